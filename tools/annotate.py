"""The annotators as arrays (``control_frames``, ``edit_mask``) and as the file tool (``annotate_file``) behind
``cli.py annotate`` and the graph's annotate step; the annotators themselves are the classes of
:mod:`unison_agent.tools.registry`.

Arrays in, arrays out: frames (T, H, W, 3) uint8 RGB; control frames keep the input's frame count; masks
(T, H, W) uint8 0/255 with white = edit. Files: an image input gives a PNG, a video input an MP4 (16 fps);
kinds whose output is a video whatever the input (``frameref-*``) write an MP4. Every file written (a companion
mask too) gets a JSON sidecar beside it (annotator, input, target, notes, models, timing), written with it as one
unit (:func:`unison_agent.media.files.output_unit`: the file first, its sidecar last).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unison_agent.contract.errors import MediaError
from unison_agent.contract.plan import DEFAULT_FPS as FPS
from unison_agent.contract.plan import DEFAULT_VIDEO_FRAMES as VIDEO_FRAMES
from unison_agent.media.files import MediaLimits, check_file, read_image, read_video, sidecar_path, write_output
from unison_agent.tools.annotator_models import as_frames
from unison_agent.tools.grounding import BOX_THRESHOLD, TEXT_THRESHOLD
from unison_agent.tools.registry import ANNOTATORS, get_annotator

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

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

    @property
    def sidecars(self) -> list[Path]:
        """The JSON sidecars beside the output and each companion."""
        return [sidecar_path(p) for p in [self.path, *self.extra.values()]]


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
    started = time.perf_counter()
    annotator = get_annotator(kind, settings)
    if hasattr(annotator, "num_frames"):
        annotator.num_frames = num_frames
    limits = MediaLimits.from_settings(settings)
    info = check_file(input_path, limits)
    is_video = info.kind == "video"
    if annotator.role == "frameref" and is_video:
        raise MediaError(f"{input_path}: {kind} expands an image into a video; give an image, not a video")
    frames = read_video(info.path, limits=limits)[0] if is_video else read_image(info.path, limits)[None]
    video_out = {"same": is_video, "video": True, "image": False}[annotator.output]
    out_path = _output_path(Path(out_path), video_out)
    made = annotator(frames, target)
    record = {
        "annotator": kind,
        "description": annotator.description,
        "input": str(info.path.resolve()),
        "target": target,
        "notes": list(made.notes),
        "models": {name: str(getattr(settings, name)) for name in annotator.models},
    }
    extra: dict[str, Path] = {}
    for name, data in made.companions.items():  # written (with their sidecars) before the main output, which lists them
        path = _companion(out_path, name)
        extra[name] = _write(path, data, video_out, {**record, "role": name, "companion_of": out_path.name})
    if extra:
        record["companions"] = {name: p.name for name, p in extra.items()}
    record["timings"] = {"total_s": round(time.perf_counter() - started, 3)}
    return Annotation(_write(out_path, made.frames, video_out, record), extra, list(made.notes))


def _write(path: Path, data: np.ndarray, video: bool, record: dict) -> Path:
    """The file and its sidecar, one unit: an MP4 at 16 fps, or a PNG of the first frame."""
    return write_output(path, data if video else data[0], record, fps=FPS)[0]


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
