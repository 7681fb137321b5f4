"""The tiny kit takes every size the real model takes (issue 10, point 7), and an older kit on disk is rebuilt.

The tiny transformer once had ``rope_max_seq_len`` 32 (diffusers' test value): any request past 512 px failed with
``RuntimeError: shape '[1, 1, 52, -1]' is invalid``. These tests generate at 480P sizes through ``Session`` and
``cli run --demo`` and check that a kit written with the old stamp is replaced, not reused.
"""

from __future__ import annotations

import json

import pytest

from unison_agent.media.files import read_image


def test_tiny_transformer_has_the_published_rotary_table(tiny_vace):
    from pathlib import Path

    from unison_agent.tiny.wan import ROPE_MAX_SEQ_LEN

    config = json.loads((Path(tiny_vace["vace"]) / "transformer" / "config.json").read_text())
    assert ROPE_MAX_SEQ_LEN == 1024 and config["rope_max_seq_len"] == 1024


def test_old_kit_on_disk_is_rebuilt(tmp_path):
    """A kit stamped with the old version (rope table 32) is thrown away and built again with the new shapes."""
    from unison_agent.tiny import wan

    first = wan.build_tiny_vace(tmp_path)["vace"]
    config_path = tmp_path / "vace" / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["rope_max_seq_len"] = 32  # what version 1 wrote
    config_path.write_text(json.dumps(config))
    (tmp_path / "vace" / wan._MARKER).write_text("1")
    stale = tmp_path / "vace" / "left-over.bin"
    stale.write_bytes(b"x")

    again = wan.build_tiny_vace(tmp_path)["vace"]
    assert again == first
    assert json.loads(config_path.read_text())["rope_max_seq_len"] == 1024
    assert (tmp_path / "vace" / wan._MARKER).read_text() == wan._VERSION
    assert not stale.exists()
    # the current stamp is reused as is (no rebuild: the file written above survives)
    stale.write_bytes(b"x")
    wan.build_tiny_vace(tmp_path)
    assert stale.exists()


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory, tiny_root):
    from unison_agent.contract.settings import Settings
    from unison_agent.core.session import Session

    home = tmp_path_factory.mktemp("sizes_home")
    settings = Settings.resolve({"home": str(home), "demo": True, "demo_dir": str(tiny_root), "steps": 1}, env={})
    from unison_agent.core.demo import demo_settings

    s = Session(demo_settings(settings), thread="sizes")  # the faces apply demo mode; Session takes settings as given
    yield s
    s.close()


def test_session_demo_image_at_832x480(demo_session, vace_calls):
    r = demo_session.send("make a picture of a red fox", overrides={"width": 832, "height": 480})
    assert r.ok, r.errors
    (out,) = r.outputs
    assert out.endswith(".png") and read_image(out).shape == (480, 832, 3)
    (call,) = vace_calls
    assert (call["width"], call["height"], call["num_frames"]) == (832, 480, 1)


def test_session_demo_video_at_480x832(demo_session, vace_calls):
    from unison_agent.media.files import read_video

    r = demo_session.send("make a video of a cat", overrides={"width": 480, "height": 832, "num_frames": 5})
    assert r.ok, r.errors
    frames, fps = read_video(r.outputs[0])
    assert frames.shape == (5, 832, 480, 3) and fps == 16
    (call,) = vace_calls
    assert (call["width"], call["height"], call["num_frames"]) == (480, 832, 5)


def test_cli_plan_and_run_demo_agree_at_480p(monkeypatch, tiny_root, tmp_path, capsys):
    """A size asked for in the words: `plan --demo` shows it and `run --demo` generates exactly that."""
    from unison_agent.cli import main

    monkeypatch.setenv("UNISON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNISON_DEMO_DIR", str(tiny_root))
    request = "make an 832x480 picture of a red fox"
    assert main(["plan", "--demo", "--json", request]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["task"], plan["width"], plan["height"]) == ("text_to_image", 832, 480)
    assert main(["run", "--demo", "--json", request]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "text_to_image" and out["demo"] is True
    assert read_image(out["outputs"][0]).shape == (plan["height"], plan["width"], 3)
