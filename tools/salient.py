"""Salient-object masks for edits that name no target.

The method uses U²-Net on the first frame. U²-Net is a separate download with no transformers port, so
this project uses a documented alternative that needs no weights beyond the other annotators: **SAM 2 with
a single positive point at the centre of the first frame** (photographers and generators centre their
subject), keeping the best-scored of SAM 2's three proposals. For a video the same point prompt on frame 0
is propagated with SAM 2 video tracking, so the mask follows the subject.

If SAM 2's mask is degenerate (under 0.5 % or over 95 % of the frame: nothing or everything), the mask is a
centred ellipse over the middle half of the frame on every frame, so an edit always has a sensible region.
Masks are uint8 0/255, white = edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from unison_agent.tools.annotator_models import as_frames
from unison_agent.tools.grounding import Sam2

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

MIN_AREA = 0.005
MAX_AREA = 0.95


def centre_ellipse(height: int, width: int) -> np.ndarray:
    """(H, W) uint8 0/255: an ellipse centred on the frame with half the frame's width and height."""
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    ry, rx = max(height / 4.0, 1.0), max(width / 4.0, 1.0)
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return np.where(inside, 255, 0).astype(np.uint8)


def is_degenerate(mask: np.ndarray) -> bool:
    """True when a mask covers almost nothing or almost everything."""
    area = float((np.asarray(mask) > 0).mean())
    return area < MIN_AREA or area > MAX_AREA


def salient_masks(frames: np.ndarray, settings: Settings) -> tuple[np.ndarray, str]:
    """(T, H, W, 3) uint8 -> salient masks (T, H, W) uint8 0/255 and a note saying how they were made."""
    frames = as_frames(frames)
    t, h, w = frames.shape[:3]
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    if t == 1:
        masks = Sam2.from_settings(settings).image_mask(frames[0], point=centre)[None]
    else:
        masks = Sam2.from_settings(settings, video=True).video_masks(frames, 0, point=centre)
    if is_degenerate(masks[0]):
        return (
            np.repeat(centre_ellipse(h, w)[None], t, axis=0),
            "salient mask: SAM 2 found no clear subject at the centre, so the centre region is edited",
        )
    return masks, "salient mask: SAM 2 subject at the centre of the first frame" + (", tracked" if t > 1 else "")
