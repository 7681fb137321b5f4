"""End to end on the tiny random-weight models (demo mode): all twelve tasks through Session, the CLI's demo run.

Sizes stay tiny (64x64, 5-frame videos, 2 steps, 16 new tokens) so the module runs in well under a minute of CPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from unison_agent.contract.settings import Settings
from unison_agent.media.files import read_image, read_video

SMALL = {"width": 64, "height": 64}
VIDEO = {**SMALL, "num_frames": 5}


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory, tiny_root):
    from unison_agent.core.session import Session

    home = tmp_path_factory.mktemp("e2e_home")
    settings = Settings.resolve(
        {"home": str(home), "demo": True, "demo_dir": str(tiny_root), "max_new_tokens": 16, "video_max_frames": 4},
        env={},
    )
    from unison_agent.core.demo import demo_settings

    s = Session(demo_settings(settings), thread="e2e")  # the faces apply demo mode; Session takes settings as given
    yield s
    s.close()


def cases(m):
    fox, mask, clip = m / "fox.png", m / "mask.png", m / "clip.mp4"
    return [
        ("text_understanding", "what is the capital of France?", {}),
        ("image_understanding", f"describe ###{fox}###", {}),
        ("video_understanding", f"what happens in ###{clip}###?", {}),
        ("text_to_image", "make a picture of a red fox", SMALL),
        ("image_reference", f"make a picture of this fox ###{fox}### on a beach", SMALL),
        ("image_control", f"make an image of a robot following the depth of ###{fox}###", SMALL),
        ("image_edit", f"make the square blue in ###{fox}### using the mask ###{mask}###", SMALL),
        ("text_to_video", "make a 1-second video of a cat", VIDEO),
        ("image_to_video", f"animate ###{fox}### for 1 second", VIDEO),
        ("video_reference", f"make a video of the fox ###{fox}### as a reference, running in a forest", VIDEO),
        ("video_control", f"make a video of a robot following the pose of ###{clip}###", VIDEO),
        ("video_edit", f"make the square red in ###{clip}###", VIDEO),
    ]


def test_all_twelve_tasks(demo_session, agent_media):
    from unison_agent.models.registry import registry

    before = len(registry().loads)
    for task, request, overrides in cases(agent_media):
        r = demo_session.send(request, overrides=overrides)
        assert r.ok, (task, r.errors)
        assert r.task == task and r.demo
        if task.endswith("understanding"):
            assert isinstance(r.answer, str) and r.outputs == []
            continue
        (out,) = r.outputs
        if task in ("text_to_image", "image_reference", "image_control", "image_edit"):
            assert out.endswith(".png") and read_image(out).shape == (64, 64, 3)
        else:
            frames, fps = read_video(out)
            assert out.endswith(".mp4") and frames.shape[1:] == (64, 64, 3) and frames.shape[0] == 5 and fps == 16
        assert any("demo mode" in n for n in r.to_json()["steps"][0]["notes"])  # added where the turn is shown
    # the control maps made from the plain inputs were kept as media items of their own
    kinds = [(m["origin"], m["task"]) for m in demo_session.media()]
    assert ("annotation", "pose") in kinds and ("annotation", "depth") in kinds
    loads = registry().loads[before:]
    assert len(loads) == len(set(loads)), "a model was loaded twice"


def test_compound_request_and_history_on_tiny_models(demo_session):
    r = demo_session.send(
        "make a picture of a red fox, then turn it into a 1-second video, then make the snow purple",
        overrides=VIDEO | {"num_frames": None},
    )
    assert r.ok, r.errors
    assert [x["task"] for x in r.results] == ["text_to_image", "image_to_video", "video_edit"]
    frames, _ = read_video(r.outputs[1])
    first = read_image(r.outputs[0]).astype(np.int16)
    assert frames.shape == (17, 64, 64, 3) and first.shape == (64, 64, 3)
    assert r.results[1]["answer"].endswith("(64x64, 17 frames)")  # what was made, as made
    r = demo_session.send("what is in the last video?")
    assert r.ok and r.task == "video_understanding"


def test_cli_run_demo_json(monkeypatch, tiny_root, tmp_path, capsys):
    from unison_agent.cli import main

    monkeypatch.setenv("UNISON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNISON_DEMO_DIR", str(tiny_root))
    rc = main(["run", "--demo", "--json", "--width", "64", "--height", "64", "make a picture of a red fox"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["demo"] is True and out["task"] == "text_to_image"
    assert read_image(out["outputs"][0]).shape == (64, 64, 3)
    rc = main(["run", "--demo", "make a picture of a red fox"])
    text = " ".join(capsys.readouterr().out.split())
    assert rc == 0 and "demo" in text and "128x128" in text  # demo default size when none is given
