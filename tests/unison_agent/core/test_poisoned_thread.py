"""Bounded work, and one bad input never poisons a thread (tiny random-weight models, the real Qwen2.5-VL
processor): an image the understanding processor refuses (1x5000) fails its own turn with a clear message, and later
turns on the same thread still work, because such a file is left out of the history the model sees; every
understanding input is capped in tokens."""

from __future__ import annotations

import numpy as np
import pytest

from unison_agent.contract.settings import Settings
from unison_agent.media.files import write_image


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory, tiny_root):
    from unison_agent.core.session import Session

    home = tmp_path_factory.mktemp("poison_home")
    settings = Settings.resolve(
        {"home": str(home), "demo": True, "demo_dir": str(tiny_root), "max_new_tokens": 4}, env={}
    )
    from unison_agent.core.demo import demo_settings

    s = Session(demo_settings(settings), thread="poison")
    yield s
    s.close()


def test_a_refused_image_fails_its_turn_and_the_thread_goes_on(demo_session, agent_media, tmp_path, monkeypatch):
    from unison_agent.models.qwen_loader import load_planner

    wide = tmp_path / "wide.png"
    write_image(wide, np.full((1, 5000, 3), 200, np.uint8))
    processor = type(load_planner(demo_session.settings).processor)
    seen = []
    original = processor.__call__

    def recording(self, *args, **kwargs):  # what reaches the processor: the image sizes it is given
        seen.append([tuple(np.asarray(i).shape[:2]) for i in kwargs.get("images") or []])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(processor, "__call__", recording)
    bad = demo_session.send(f"describe ###{wide}###")
    assert not bad.ok and "aspect ratio" in bad.errors[0]["error"] and "internal error" not in bad.answer
    assert "5000" in bad.errors[0]["error"] and not seen  # refused before the model was given anything
    for request in (f"describe ###{agent_media / 'fox.png'}###", "what is the capital of France?"):
        later = demo_session.send(request)
        assert later.ok, later.errors
    assert seen and all((1, 5000) not in shapes for shapes in seen)
    assert len(demo_session.history()) == 3


def test_every_understanding_input_is_bounded_in_tokens(demo_session, agent_media, monkeypatch):
    """A tight max_input_tokens: a long history is cut (oldest first) so the turn still runs; a request that alone
    is over the cap is refused with the setting's name before the model generates."""
    from unison_agent.core.session import Session
    from unison_agent.tools import understand

    lengths = []
    prepare = understand.prepare_inputs

    def recording(*args, **kwargs):
        inputs = prepare(*args, **kwargs)
        lengths.append(int(inputs["input_ids"].shape[1]))
        return inputs

    monkeypatch.setattr(understand, "prepare_inputs", recording)
    settings = demo_session.settings.replace(max_input_tokens=400)
    with Session(settings, thread="bounded", checkpointer=demo_session.checkpointer) as s:
        for _ in range(4):
            assert s.send("tell me about foxes " + "and their dens " * 20).ok
        lengths.clear()
        assert s.send("what is the capital of France?").ok  # 4 long turns of history would not fit: cut
        assert lengths[0] > 400 and lengths[-1] <= 400 and len(lengths) > 1
        over = s.send("what is this " + "very long question " * 200)
    assert not over.ok and "max_input_tokens" in over.errors[0]["error"] and "understanding" in over.errors[0]["error"]
