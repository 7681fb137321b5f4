"""The annotators as arrays (``control_frames``, ``edit_mask``) and as the file tool (``annotate_file``) behind
``cli.py annotate`` and the graph's annotate step; the annotators themselves are the classes of
:mod:`unison_agent.tools.registry`.

Arrays in, arrays out: frames (T, H, W, 3) uint8 RGB; control frames keep the input's frame count; masks
(T, H, W) uint8 0/255 with white = edit. Files: an image input gives a PNG, a video input an MP4 (16 fps),
both written atomically; kinds whose output is a video whatever the input (``frameref-*``) write an MP4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unison_agent.errors import MediaError
from unison_agent.media import check_file, read_image, read_video, write_image, write_video
from unison_agent.plan import DEFAULT_FPS as FPS
from unison_agent.plan import DEFAULT_VIDEO_FRAMES as VIDEO_FRAMES

from .annotator_models import as_frames
from .grounding import BOX_THRESHOLD, TEXT_THRESHOLD
from .registry import ANNOTATORS, get_annotator

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.settings import Settings

__all__ = ["ANNOTATORS", "CONTROL_KINDS", "Annotation", "annotate_file", "control_frames", "edit_mask"]

CONTROL_KINDS = (*(name for name, cls in ANNOTATORS.items() if cls.role == "control"), "ready")
"""The control kinds a plan may name: every control annotator, and "ready" (the input already is a map)."""


# ----------------------------------------------------------------------------------------------------------
# arrays


def control_frames(frames: np.ndarray, kind: str, settings: Settings) -> np.ndarray:
    """(T, H, W, 3) uint8 -> control frames (T, H, W, 3) uint8 of ``kind`` (``ready``: the input itself)."""
    if kind not in CONTROL_KINDS:
        raise ValueError(f"unknown control kind {kind!r}; use one of {', '.join(CONTROL_KINDS)}")
    if kind == "ready":
        return as_frames(frames)
    return get_annotator(kind, settings)(frames).frames


def edit_mask(
    frames: np.ndarray,
    target: str | None,
    settings: Settings,
    *,
    box_threshold: float = BOX_THRESHOLD,
    text_threshold: float = TEXT_THRESHOLD,
) -> tuple[np.ndarray, str]:
    """Masks (T, H, W) uint8 0/255 (white = edit) for ``frames`` and a note saying how they were made.

    With a target: Grounding DINO + SAM 2 (an image: ``Sam2Model``; a video: SAM 2 propagation from the first
    frame where the target is found). Target not found, or no target: the salient mask, and the note says so.
    """
    mask = get_annotator("mask", settings)
    mask.box_threshold, mask.text_threshold = box_threshold, text_threshold
    made = mask(frames, target)
    return made.frames, made.notes[0]


# ----------------------------------------------------------------------------------------------------------
# the file tool


@dataclass
class Annotation:
    """What ``annotate_file`` wrote: the main output, any companion files (masks), and notes for the person."""

    path: Path
    extra: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def annotate_file(
    kind: str,
    input_path: Path,
    out_path: Path,
    settings: Settings,
    target: str | None = None,
    *,
    num_frames: int = VIDEO_FRAMES,
) -> Annotation:
    """Annotate one file and write the result: a PNG for an image input, an MP4 at 16 fps for a video (kinds
    whose output is always a video, ``frameref-*``, write an MP4; ``subject`` a PNG); companions beside it.

    ``kind`` is a name in :data:`ANNOTATORS`; ``target`` names the object for ``mask``/``subject``;
    ``num_frames`` is the clip length for ``frameref-*``. The notes ("target not found", ...) are returned.
    """
    annotator = get_annotator(kind, settings)
    if hasattr(annotator, "num_frames"):
        annotator.num_frames = num_frames
    info = check_file(input_path)
    is_video = info.kind == "video"
    frames = read_video(info.path)[0] if is_video else read_image(info.path)[None]
    video_out = {"same": is_video, "video": True, "image": False}[annotator.output]
    out_path = _output_path(Path(out_path), video_out)

    def write(path: Path, data: np.ndarray) -> Path:
        return write_video(path, data, fps=FPS) if video_out else write_image(path, data[0])

    try:
        made = annotator(frames, target)
    except MediaError as exc:
        raise MediaError(f"{input_path}: {exc}") from None
    extra = {name: write(_companion(out_path, name), data) for name, data in made.companions.items()}
    return Annotation(write(out_path, made.frames), extra, list(made.notes))


def _output_path(path: Path, video: bool) -> Path:
    """``path`` with the right extension added when it has none; a MediaError when it has the wrong one."""
    want = ".mp4" if video else ".png"
    if path.suffix == "":
        return path.with_suffix(want)
    if path.suffix.lower() != want:
        what = "a video" if video else "an image"
        raise MediaError(f"{path}: this annotation is {what}, so the output must end in {want}")
    return path


def _companion(path: Path, tag: str) -> Path:
    """``out.mp4`` -> ``out.mask.mp4``."""
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")
