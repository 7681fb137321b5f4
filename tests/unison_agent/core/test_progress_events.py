"""Progress events through Session on the tiny demo models: one true sequence of stages per turn.

planning -> loading (which model, only when it loads) -> annotating (which, frame i/n) -> denoising (step i/N with
elapsed and remaining) -> decoding (while diffusers' VAE decodes) -> writing; no library tqdm bar on stderr.
"""

from __future__ import annotations

import re

import pytest

from unison_agent.contract.settings import Settings

SMALL_VIDEO = {"width": 64, "height": 64, "num_frames": 5, "steps": 3}
TQDM = re.compile(r"\d+%\||it/s\]|s/it\]")


@pytest.fixture()
def demo_session(tmp_path, tiny_root, monkeypatch):
    """A demo Session with an empty model registry (so this turn really loads its models)."""
    from unison_agent.core.session import Session
    from unison_agent.models import registry as models

    monkeypatch.setattr(models, "_REGISTRY", models.ModelRegistry())
    settings = Settings.resolve({"home": str(tmp_path), "demo": True, "demo_dir": str(tiny_root)}, env={})
    from unison_agent.core.demo import demo_settings

    s = Session(demo_settings(settings), thread="progress")
    yield s
    s.close()


@pytest.fixture()
def vae_decodes(monkeypatch):
    """Marks, in the same event stream, the moment diffusers calls the VAE's decode (what reaches the library)."""
    from diffusers import AutoencoderKLWan

    from unison_agent.core import progress

    original = AutoencoderKLWan.decode

    def decode(self, *args, **kwargs):
        progress.emit({"event": "probe", "what": "vae.decode"})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKLWan, "decode", decode)


def _stages(events):
    return [e["stage"] for e in events if e["event"] == "stage"]


def test_video_generation_reports_each_stage_once_in_order(demo_session, vae_decodes, capfd):
    events = []
    r = demo_session.send("make a 1-second video of a cat", overrides=SMALL_VIDEO, on_event=events.append)
    assert r.ok, r.errors
    stages = _stages(events)
    assert stages[0] == "planning" and stages[-3:] == ["denoising", "decoding", "writing"]
    loading = [e for e in events if e["event"] == "stage" and e["stage"] == "loading"]
    assert any(e["model"].startswith("Wan2.1-VACE") for e in loading)
    assert all(e["text"] == f"loading {e['model']}" for e in loading)
    first_denoise = next(i for i, e in enumerate(events) if e.get("stage") == "denoising")
    assert "loading" not in _stages(events[first_denoise:])  # nothing loads once denoising began

    steps = [e for e in events if e["event"] == "step"]
    assert [(e["stage"], e["step"], e["total"]) for e in steps] == [("denoising", i, 3) for i in (1, 2, 3)]
    assert all(e["elapsed_s"] >= 0 and e["remaining_s"] is not None for e in steps)
    assert steps[-1]["remaining_s"] == 0
    assert steps[0]["remaining_s"] == pytest.approx(steps[0]["elapsed_s"] * 2, abs=2e-3)
    assert [e["elapsed_s"] for e in steps] == sorted(e["elapsed_s"] for e in steps)

    # decoding begins after the last step and before diffusers' VAE decode; writing only after it
    marks = {"stage": "stage", "step": "step", "probe": "what"}
    order = [(e["event"], e[marks[e["event"]]]) for e in events if e["event"] in marks]
    last_step = order.index(("step", 3))
    assert order[last_step + 1 :][:3] == [("stage", "decoding"), ("probe", "vae.decode"), ("stage", "writing")]
    assert not TQDM.search(capfd.readouterr().err)

    # the next turn: the models are loaded, so no loading stage at all
    events.clear()
    r = demo_session.send("make a 1-second video of a dog", overrides=SMALL_VIDEO, on_event=events.append)
    assert r.ok, r.errors
    assert _stages(events) == ["planning", "denoising", "decoding", "writing"]


def test_edit_with_an_annotator_reports_annotating_with_frames(demo_session, agent_media, capfd):
    events = []
    clip = agent_media / "clip.mp4"
    r = demo_session.send(f"make the square red in ###{clip}###", overrides=SMALL_VIDEO, on_event=events.append)
    assert r.ok, r.errors
    stages = _stages(events)
    assert stages[0] == "planning" and stages[-3:] == ["denoising", "decoding", "writing"]
    (annotating,) = [e for e in events if e.get("event") == "stage" and e["stage"] == "annotating"]
    assert annotating["annotator"] == "mask" and "mask" in annotating["text"]
    assert stages.index("annotating") < stages.index("denoising")
    frames = [e for e in events if e["event"] == "step" and e["stage"] == "annotating"]
    assert frames and [e["step"] for e in frames] == list(range(1, frames[-1]["total"] + 1))
    assert all(e["annotator"] == "mask" and e["elapsed_s"] >= 0 for e in frames)
    first_denoise = next(i for i, e in enumerate(events) if e.get("stage") == "denoising")
    assert "loading" not in _stages(events[first_denoise:]) and "annotating" not in _stages(events[first_denoise:])
    assert not TQDM.search(capfd.readouterr().err)


def test_understanding_reports_loading_then_understanding_before_its_tokens(demo_session, agent_media):
    events = []
    r = demo_session.send(f"describe ###{agent_media / 'fox.png'}###", on_event=events.append)
    assert r.ok, r.errors
    assert _stages(events) == ["planning", "loading", "understanding"]
    (loading,) = [e for e in events if e.get("stage") == "loading"]
    assert "Qwen2.5-VL" in loading["model"]
    understanding = next(i for i, e in enumerate(events) if e.get("stage") == "understanding")
    tokens = [i for i, e in enumerate(events) if e["event"] == "token"]
    assert tokens and min(tokens) > understanding
