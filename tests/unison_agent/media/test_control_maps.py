"""The control-input classifier: maps made by the project's own annotators are recognised from their pixels (also
after H.264 compression); natural media is not; file names never matter."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import natural_clip, pose_clip
from unison_agent.media.control_maps import classify_file, classify_frames
from unison_agent.media.files import write_image, write_video


def _natural(h=96, w=128, seed=0) -> np.ndarray:
    return natural_clip(1, h, w, seed)[0]


def _maps() -> dict[str, np.ndarray]:
    import torch
    from torchvision.utils import flow_to_image

    from unison_agent.tools.classic import canny_frames, gray_frames, scribble_frames
    from unison_agent.tools.depth import normalize_depth

    nat = _natural()
    h, w = nat.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    depth = normalize_depth((np.hypot(xx - w / 2, yy - h) + 5 * np.sin(xx / 20))[None].astype(np.float32))[0]
    depth = depth if depth.ndim == 3 else np.repeat(depth[..., None], 3, -1)
    flow = torch.stack([torch.tensor(np.sin(xx / 30) * 3.0), torch.tensor(np.cos(yy / 25) * 3.0)]).float()
    return {
        "pose": pose_clip(1, h, w)[0],
        "edges": canny_frames(nat[None])[0],
        "scribble": scribble_frames(nat[None])[0],
        "gray": gray_frames(nat[None])[0],
        "depth": depth,
        "flow": flow_to_image(flow).permute(1, 2, 0).numpy(),
    }


@pytest.mark.parametrize("name", ["pose", "edges", "scribble", "gray", "depth", "flow"])
def test_annotator_maps_are_maps(name):
    kind = {"scribble": "edges"}.get(name, name)
    verdict = classify_frames(_maps()[name])
    assert verdict.is_map and verdict.kind == kind, verdict
    assert verdict.control == "ready" and kind in verdict.note("x.png")


@pytest.mark.parametrize(
    "frame",
    [
        _natural(),
        (_natural() * 0.25).astype(np.uint8),  # a night shot: dark, but not black with bright strokes
        np.full((64, 64, 3), 90, np.uint8),  # flat: nothing to follow
        np.zeros((64, 64, 3), np.uint8),
    ],
    ids=["photo", "night", "flat", "black"],
)
def test_natural_media_is_natural(frame):
    verdict = classify_frames(frame)
    assert not verdict.is_map and verdict.control is None, verdict


def test_file_names_never_decide(tmp_path):
    """A skeleton named like a holiday clip is a map; a photo named my_pose / depth_of_field is natural."""
    holiday = write_video(tmp_path / "holiday.mp4", pose_clip(9, 64, 64), fps=16)
    assert classify_file(holiday).kind == "pose"  # after H.264 compression too
    for name in ("my_pose.png", "depth_of_field.png"):
        assert not classify_file(write_image(tmp_path / name, _natural())).is_map
    natural = write_video(tmp_path / "pose_reference.mp4", natural_clip(9, 64, 64), fps=16)
    assert not classify_file(natural).is_map
