"""The tiny kit takes every size the real model takes (issue 10, point 7), and an older kit on disk is rebuilt.

The tiny transformer once had ``rope_max_seq_len`` 32 (diffusers' test value): any request past 512 px failed with
``RuntimeError: shape '[1, 1, 52, -1]' is invalid``. These tests generate at 480P sizes through the real
``generate`` path and check that a kit written with the old stamp is replaced, not reused.
"""

from __future__ import annotations

import json

import pytest
import torch
from unison_agent.tools.generate import generate

from unison_agent.media import read_image
from unison_agent.plan import Plan


def test_tiny_transformer_has_the_published_rotary_table(tiny_vace):
    from pathlib import Path

    from unison_agent.tiny.wan import ROPE_MAX_SEQ_LEN

    config = json.loads((Path(tiny_vace["vace"]) / "transformer" / "config.json").read_text())
    assert ROPE_MAX_SEQ_LEN == 1024 and config["rope_max_seq_len"] == 1024


@pytest.mark.parametrize("width,height", [(832, 480), (480, 832)])
def test_tiny_pipeline_generates_at_480p(width, height, s2_settings, tmp_path):
    plan = Plan(task="text_to_image", prompt="a red bird on a branch", width=width, height=height, num_frames=1)
    settings = s2_settings.replace(steps=1)
    res = generate(plan, settings, cond_tokens=torch.randn(1, 4, 32), out_dir=tmp_path, seed=3)
    (out,) = res.outputs
    assert out.suffix == ".png" and read_image(out).shape == (height, width, 3)
    assert (res.width, res.height, res.num_frames) == (width, height, 1)


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
