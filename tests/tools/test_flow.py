"""Optical flow with torchvision RAFT-small: shapes, the random-weights note, the weights setting."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from unison_agent.contract.errors import WeightsError
from unison_agent.tools.classic import RANDOM_RAFT_NOTE, flow_frames


def test_flow_keeps_frame_count(ann_settings, clip, caplog):
    with caplog.at_level(logging.WARNING):
        out = flow_frames(clip[:3], ann_settings, num_flow_updates=2)
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8
    assert np.array_equal(out[-1], out[-2])  # the last frame repeats the previous flow
    assert RANDOM_RAFT_NOTE in caplog.text


def test_flow_of_one_image_is_zero_flow_white(ann_settings, scene):
    out = flow_frames(scene[None], ann_settings)
    assert out.shape == (1, 64, 96, 3) and (out == 255).all()


def test_raft_weights_file_is_used(ann_settings, clip, tmp_path, caplog):
    import torch
    from torchvision.models.optical_flow import raft_small

    path = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    settings = ann_settings.replace(raft_weights=str(path))
    with caplog.at_level(logging.WARNING):
        out = flow_frames(clip[:2], settings, num_flow_updates=1)
    assert out.shape == (2, 64, 64, 3)
    assert RANDOM_RAFT_NOTE not in caplog.text


def test_missing_raft_weights_is_a_clear_error(ann_settings, clip, tmp_path):
    settings = ann_settings.replace(raft_weights=str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsError, match="UNISON_RAFT_WEIGHTS"):
        flow_frames(clip[:2], settings)
