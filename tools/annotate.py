"""The annotator dispatcher: what generation calls (``control_frames``, ``edit_mask``) and the file tool
(``run_annotator``) behind ``cli.py annotate`` and the graph.

Arrays in, arrays out: frames (T, H, W, 3) uint8 RGB; control frames keep the input's frame count; masks
(T, H, W) uint8 0/255 with white = edit. Files: an image input gives a PNG, a video input an MP4 (16 fps);
kinds whose output is a video whatever the input (``frameref-*``) write an MP4. Every file written (a companion
mask too) gets a JSON sidecar beside it (annotator, input, target, notes, models, timing), written with it as one
unit (:func:`unison_agent.media.output_unit`: the file first, its sidecar last).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unison_agent.errors import MediaError
from unison_agent.media import MediaLimits, check_file, read_image, read_video, sidecar_path, write_output
from unison_agent.plan import DEFAULT_FPS as FPS
from unison_agent.plan import DEFAULT_VIDEO_FRAMES as VIDEO_FRAMES

from .annotator_models import as_frames
from .grounding import BOX_THRESHOLD, TEXT_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.settings import Settings

log = logging.getLogger(__name__)

CONTROL_KINDS = ("pose", "depth", "canny", "gray", "flow", "scribble", "ready")

ANNOTATORS: dict[str, str] = {
    "depth": "Depth-Anything-V2 depth map, per-frame min-max, 3 channels (near = bright)",
    "pose": "OpenPose-18 skeletons on black from RT-DETR person boxes + ViTPose keypoints",
    "canny": "Canny edges, white on black",
    "gray": "grey-scale frames",
    "flow": "RAFT optical-flow visualisation (frame t shows the flow t -> t+1)",
    "scribble": "scribble-like strokes (smoothed, dilated edges), white on black",
    "mask": "edit mask (white = edit) of the target named by --target (Grounding DINO + SAM 2), salient if none",
    "salient": "salient-object mask (white = subject): SAM 2 at the frame centre",
    "outpaint": "grey padding around the input (25 % per side); the mask (white = padding) goes to <out>.mask.<ext>",
    "frameref-first": "image -> video: the image as the first frame, grey frames after; mask to <out>.mask.mp4",
    "frameref-last": "image -> video: the image as the last frame, grey frames before; mask to <out>.mask.mp4",
    "subject": "reference crop: the target (or salient subject) of an image on white, cropped to its box",
}


# ----------------------------------------------------------------------------------------------------------
# what generation calls


def control_frames(frames: np.ndarray, kind: str, settings: Settings) -> np.ndarray:
    """(T, H, W, 3) uint8 -> control frames (T, H, W, 3) uint8 of ``kind`` (``ready``: the input itself)."""
    frames = as_frames(frames)
    if kind == "ready":
        return frames
    if kind == "depth":
        from .depth import depth_frames

        return depth_frames(frames, settings)
    if kind == "pose":
        from .pose import pose_frames

        return pose_frames(frames, settings)
    if kind == "flow":
        from .classic import flow_frames

        return flow_frames(frames, settings)
    from . import classic

    simple = {"canny": classic.canny_frames, "gray": classic.gray_frames, "scribble": classic.scribble_frames}
    if kind not in simple:
        raise ValueError(f"unknown control kind {kind!r}; use one of {', '.join(CONTROL_KINDS)}")
    return simple[kind](frames)


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
    from .grounding import grounded_masks
    from .salient import salient_masks

    frames = as_frames(frames)
    if target is not None and target.strip():
        target = target.strip()
        grounded = grounded_masks(frames, target, settings, box_threshold=box_threshold, text_threshold=text_threshold)
        if grounded.found:
            det = grounded.detection
            where = f"on frame {det.frame_index} and tracked with SAM 2" if len(frames) > 1 else "with SAM 2"
            return grounded.masks, f"grounded mask: {target!r} found (score {det.score:.2f}) {where}"
        masks, note = salient_masks(frames, settings)
        return masks, f"target {target!r} was not found in the input; fell back to the {note}"
    masks, note = salient_masks(frames, settings)
    return masks, f"no edit target named; {note}"


# ----------------------------------------------------------------------------------------------------------
# the file tool


@dataclass
class Annotation:
    """What ``annotate_file`` wrote: the main output, any companion files (masks), and notes for the user."""

    path: Path
    extra: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def sidecars(self) -> list[Path]:
        """The JSON sidecars beside the output and each companion."""
        return [sidecar_path(p) for p in [self.path, *self.extra.values()]]


def run_annotator(
    kind: str,
    input_path: Path,
    out_path: Path,
    settings: Settings,
    target: str | None = None,
    *,
    num_frames: int = VIDEO_FRAMES,
) -> Path:
    """Annotate one file and write the result (PNG for an image input, MP4 at 16 fps for a video); its path.

    ``kind`` is one of ``ANNOTATORS``; ``target`` names the object for ``mask``/``subject``; ``num_frames`` is
    the clip length for ``frameref-first``/``frameref-last``. Notes (e.g. "target not found") are logged;
    ``annotate_file`` returns them.
    """
    result = annotate_file(kind, input_path, out_path, settings, target, num_frames=num_frames)
    for note in result.notes:
        log.warning(note)
    return result.path


def annotate_file(
    kind: str,
    input_path: Path,
    out_path: Path,
    settings: Settings,
    target: str | None = None,
    *,
    num_frames: int = VIDEO_FRAMES,
) -> Annotation:
    """``run_annotator`` with everything it wrote and its notes."""
    if kind not in ANNOTATORS:
        raise ValueError(f"unknown annotator {kind!r}; use one of {', '.join(ANNOTATORS)}")
    started = time.perf_counter()
    limits = MediaLimits.from_settings(settings)
    info = check_file(input_path, limits)
    is_video = info.kind == "video"
    if kind.startswith("frameref-") and is_video:
        raise MediaError(f"{input_path}: {kind} expands an image into a video; give an image, not a video")
    frames = read_video(info.path, limits=limits)[0] if is_video else read_image(info.path, limits)[None]
    video_out = (is_video and kind != "subject") or kind.startswith("frameref-")
    out_path = _output_path(Path(out_path), video_out)
    main, companion, notes = _annotate(kind, frames, settings, target, num_frames)
    record = {
        "annotator": kind,
        "description": ANNOTATORS[kind],
        "input": str(info.path.resolve()),
        "target": target,
        "notes": notes,
        "models": {name: str(getattr(settings, name)) for name in _MODELS.get(kind, ())},
    }
    extra: dict[str, Path] = {}
    if companion is not None:  # written (with its sidecar) before the main output, which lists it
        mask_path = _companion(out_path, "mask")
        _write(mask_path, companion, video_out, {**record, "role": "mask", "companion_of": out_path.name})
        extra["mask"] = mask_path
        record["companions"] = {"mask": mask_path.name}
    record["timings"] = {"total_s": round(time.perf_counter() - started, 3)}
    return Annotation(_write(out_path, main, video_out, record), extra, notes)


_MODELS = {
    "depth": ("depth_model",),
    "pose": ("pose_model", "person_model"),
    "flow": ("raft_weights",),
    "mask": ("grounding_model", "sam2_model"),
    "salient": ("sam2_model",),
    "subject": ("grounding_model", "sam2_model"),
}


def _annotate(
    kind: str, frames: np.ndarray, settings: Settings, target: str | None, num_frames: int
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(main frames, companion mask frames or None, notes) for one annotator kind."""
    if kind in CONTROL_KINDS:
        return control_frames(frames, kind, settings), None, []
    if kind in ("mask", "salient"):
        masks, note = edit_mask(frames, target if kind == "mask" else None, settings)
        return masks, None, [note]
    if kind == "outpaint":
        from .classic import outpaint_canvas

        canvas, mask = outpaint_canvas(frames)
        return canvas, mask, []
    if kind.startswith("frameref-"):
        from .classic import expand_frame

        clip, masks = expand_frame(frames[0], num_frames, "first" if kind == "frameref-first" else "last")
        return clip, masks, []
    # subject: a reference image of the target (or the salient subject) from the first frame
    from .classic import subject_crop

    masks, note = edit_mask(frames[:1], target, settings)
    return subject_crop(frames[0], masks[0])[None], None, [note]


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
