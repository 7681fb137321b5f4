"""A long or large source clip is scaled while it is decoded (never held whole at its own resolution), and the VACE
inputs are the same as decoding it at full size and scaling afterwards: frames, masks (a mask file of the source's size
is scaled with it, nearest, as grey levels) and notes, for landscape, portrait and odd sizes."""

from __future__ import annotations

import numpy as np
import pytest

from unison_agent.contract.plan import Plan
from unison_agent.media import files as media_files
from unison_agent.media.files import read_video, write_video
from unison_agent.models import vace_inputs as vi


@pytest.mark.parametrize("size", [(320, 180), (200, 300), (333, 211)])
def test_an_edit_source_is_scaled_while_decoded_with_the_same_inputs(tmp_path, monkeypatch, size):
    w, h = size
    rng = np.random.default_rng(w)
    frames = (rng.random((20, h, w, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "clip.mp4", frames, fps=16)
    mask = np.zeros((20, h, w, 3), np.uint8)
    mask[:, h // 4 : h // 2, w // 3 : w // 2] = 255
    write_video(tmp_path / "mask.mp4", mask, fps=16)
    plan = Plan.from_json(
        {
            "task": "video_edit",
            "prompt": "a red square",
            "width": 128,
            "height": 80,
            "num_frames": 17,
            "fps": 16,
            "inputs": [
                {"path": str(tmp_path / "clip.mp4"), "kind": "video", "role": "source"},
                {"path": str(tmp_path / "mask.mp4"), "kind": "video", "role": "mask"},
            ],
        }
    )
    plan, _ = vi.fit_plan(plan)
    decoded: list[tuple[int, ...]] = []
    original = media_files.read_video

    def spy(path, *args, **kwargs):
        out = original(path, *args, **kwargs)
        if "clip" in str(path):
            decoded.append(out[0].shape)
        return out

    levels = media_files.mask_levels

    def mask_spy(path, **kwargs):
        out = levels(path, **kwargs)
        decoded.append(out.shape)
        return out

    monkeypatch.setattr(media_files, "read_video", spy)
    monkeypatch.setattr(media_files, "mask_levels", mask_spy)
    got = vi.prepare_inputs(plan)
    shape, mask_shape = decoded
    assert shape[1] * shape[2] < h * w and shape[1] >= plan.height and shape[2] >= plan.width  # covers the output
    assert mask_shape == shape[:3]  # the mask file (the source's size) is scaled with it, one grey channel
    source, fps = read_video(tmp_path / "clip.mp4")
    want = vi.prepare_inputs(plan, frames={"source": source, "mask": read_video(tmp_path / "mask.mp4")[0], "fps": fps})
    np.testing.assert_array_equal(got.video, want.video)
    np.testing.assert_array_equal(got.mask, want.mask)
    assert got.notes == want.notes and not any("mask resized" in n for n in got.notes)
