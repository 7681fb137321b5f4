"""VACE input preparation as the method does it (not diffusers' shortcuts). Pure numpy + PIL, no torch.

- Size: keep the source's aspect ratio at about the requested area (capped by the source's own area, never
  upscaling), both sides multiples of 16; resize to cover (bicubic, antialiased; nearest for masks) and crop
  the centre.
- Frames: sample the source uniformly at the output frame rate from its start, as many frames as the plan
  asks for or the clip holds, rounded down to 4k+1.
- Masks: uint8 0/255, white = generate. A given mask marks every pixel that is not black, as VACE's inpainting
  annotator counts one (a pure red mask marks its red area); a soft, coloured or compressed mask whose dark grey
  pixels (1..127) are more than 1 % of it gets a note, and a mask that marks nothing is an error. A mask of
  another size than its source is first resized (nearest) to the source, a mask image is repeated over all
  frames of a video; both are reported in ``notes``.
- References: fitted (bilinear) inside a white canvas of the output size, centred.
- Image-to-video: the given frame first or last, grey frames elsewhere; mask 0 on the given frame,
  255 elsewhere.
- Grey under the mask: every pixel to be generated (mask white) reaches the pipeline as neutral grey, 0.5 in
  [0, 1], i.e. 127.5 in [0, 255] and exactly 0 in the [-1, 1] the VAE sees, as VACE's inpainting annotator
  does (``apply_plain_mask``); the source's pixels there never reach the model.

:func:`prepare_inputs` reads a plan's files (and the maps the graph's annotate step prepared, ``files``) into
:class:`VaceInputs`; it never runs an annotator. :func:`fit_plan` gives a plan the size and frame count that
generation will produce from its inputs, so the plan shown before a run is the plan that runs.

Everything returns frames as (T, H, W, 3) uint8 and masks as (T, H, W) uint8; :class:`VaceInputs` turns them
into the PIL lists ``WanVACEPipeline`` takes, with the prepared size and frame count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unison_agent.contract.errors import MediaError, PlanError, UnisonError
from unison_agent.contract.plan import MAX_SIDE, MIN_SIDE, Plan
from unison_agent.media.files import MediaLimits, as_frames, binary_mask, luma, soft_mask_note

UNIT = 16
"""Side lengths are multiples of this (VAE stride 8 x patch 2)."""
GREY = 127
"""uint8 stand-in for the "to be generated" value in stored frames; :meth:`VaceInputs.pipeline_kwargs` hands the
pipeline the exact 0.5 (127.5/255) wherever the mask is white."""
MAX_LATENT_TOKENS = 4 * 75600
"""Transformer tokens above which a request is refused (4x Wan's 720p x 81-frame budget)."""


@dataclass
class VaceInputs:
    """Prepared VACE inputs: the size and frame count to pass, and the conditioning arrays."""

    width: int
    height: int
    num_frames: int
    video: np.ndarray | None = None  # (T, H, W, 3) uint8, or None (VACE then uses zeros)
    mask: np.ndarray | None = None  # (T, H, W) uint8 0/255 white = generate, or None (all white)
    references: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8 canvases of the output size
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the person must read in the answer, not just a note

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``WanVACEPipeline.__call__`` at exactly the prepared size.

        ``video`` and ``mask`` go as (1, T, H, W, C) float arrays in [0, 1] (diffusers maps them to [-1, 1]
        and [0, 1]); under a white mask the video is exactly 0.5 (grey, 0 after normalisation). References go
        as PIL images.
        """
        from PIL import Image

        kwargs: dict[str, Any] = {"height": self.height, "width": self.width, "num_frames": self.num_frames}
        if self.video is not None:
            video = self.video.astype(np.float32) / 255.0
            if self.mask is not None:
                hole = self.mask >= 128
                video[hole] = 0.5
                kwargs["mask"] = hole.astype(np.float32)[None, ..., None]
            kwargs["video"] = video[None]
        if self.references:
            kwargs["reference_images"] = [Image.fromarray(r) for r in self.references]
        return kwargs

    def check(self) -> None:
        """Internal consistency: shapes agree with the size and frame count (a bug otherwise)."""
        if self.video is not None:
            assert self.video.shape == (self.num_frames, self.height, self.width, 3), self.video.shape
        if self.mask is not None:
            assert self.mask.shape == (self.num_frames, self.height, self.width), self.mask.shape
        for r in self.references:
            assert r.shape == (self.height, self.width, 3), r.shape


# ----------------------------------------------------------------------------------------------------------
# size


def fit_size(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, list[str]]:
    """Output (w, h) for a source of ``src_w x src_h`` asked at about ``width x height``.

    Keeps the source's aspect ratio at the requested area (never more than the source's own area), with both
    sides multiples of 16. Sides are held within [64, 2048]; a clamp is reported in the returned notes.
    The answer is a fixed point: ``fit_size(src, *fit_size(src, w, h)[:2])`` gives the same size, so a plan
    fitted before the run is not fitted differently by the run.
    """
    if src_w <= 0 or src_h <= 0:
        raise MediaError(f"a source of {src_w}x{src_h} pixels has no content")
    notes: list[str] = []
    w, h = width, height
    for _ in range(16):  # the area only shrinks, so this settles in a few rounds
        nw, nh = _fit_once(src_w, src_h, w, h)
        if (nw, nh) == (w, h):
            break
        w, h = nw, nh
    cw = int(min(MAX_SIDE, max(MIN_SIDE, w)))
    ch = int(min(MAX_SIDE, max(MIN_SIDE, h)))
    if (cw, ch) != (w, h):
        notes.append(
            f"a {src_w}x{src_h} source gives {w}x{h}, outside the {MIN_SIDE}..{MAX_SIDE} px sides the model "
            f"takes; using {cw}x{ch} (cropped to cover)"
        )
    return cw, ch, notes


def _fit_once(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    ratio = src_h / src_w
    area_units = min(width * height, src_w * src_h) / (UNIT * UNIT)
    oh = max(1, round(math.sqrt(area_units * ratio)))
    ow = max(1, int(area_units / oh))
    return ow * UNIT, oh * UNIT


def check_budget(width: int, height: int, num_frames: int) -> None:
    """Refuse sizes whose transformer sequence would not fit any GPU (clear error instead of an OOM deep inside)."""
    tokens = ((num_frames - 1) // 4 + 1) * (height // UNIT) * (width // UNIT)
    if tokens > MAX_LATENT_TOKENS:
        raise UnisonError(
            f"{width}x{height} with {num_frames} frames needs {tokens:,} transformer tokens, more than the "
            f"{MAX_LATENT_TOKENS:,} this tool allows (832x480x81 needs 32,760); ask for a smaller size or fewer frames"
        )


def cover_size(iw: int, ih: int, width: int, height: int) -> tuple[int, int]:
    """The size an ``iw x ih`` picture is scaled to so that it covers ``width x height`` (before the centre crop)."""
    scale = max(width / iw, height / ih)
    return max(width, round(iw * scale)), max(height, round(ih * scale))


def cover_resize(frames: np.ndarray, width: int, height: int, *, nearest: bool = False) -> np.ndarray:
    """Resize (T, H, W[, 3]) uint8 frames to cover ``width x height`` and crop the centre.

    Bicubic (antialiased when shrinking) for pictures, nearest for masks.
    """
    from PIL import Image

    ih, iw = frames.shape[1:3]
    if (iw, ih) == (width, height):
        return frames
    nw, nh = cover_size(iw, ih, width, height)
    left, top = (nw - width) // 2, (nh - height) // 2
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    out = [
        np.asarray(Image.fromarray(f).resize((nw, nh), method))[top : top + height, left : left + width] for f in frames
    ]
    return np.stack(out)


def fit_on_canvas(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit (H, W, 3) uint8 inside a white ``width x height`` canvas (bilinear), centred."""
    from PIL import Image

    ih, iw = image.shape[:2]
    if (iw, ih) == (width, height):
        return image
    scale = min(height / ih, width / iw)
    nw, nh = max(1, int(iw * scale)), max(1, int(ih * scale))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    canvas[top : top + nh, left : left + nw] = resized
    return canvas


# ----------------------------------------------------------------------------------------------------------
# time


def snap_down_4k1(n: int) -> int:
    """The largest 4k+1 not above ``n`` (1 for n < 5)."""
    return 1 if n < 5 else (n - 1) // 4 * 4 + 1


def frame_indices(
    n_src: int, src_fps: float | None, wanted: int, fps: float, *, start: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Indices that sample a clip uniformly at ``fps`` (its real speed) from output frame ``start`` on:
    ``wanted`` frames or as many as it holds.

    The count is 4k+1 (at least 5). A clip too short for 5 frames at ``fps`` is stretched uniformly to 5.
    ``start`` (in output frames) lets a caller walk a long clip window by window.
    """
    notes: list[str] = []
    src_fps = float(src_fps) if src_fps and src_fps > 0 else float(fps)
    available = max(1, output_frames(n_src, src_fps, fps) - int(start))
    n = min(wanted, snap_down_4k1(available))
    if n < 5:
        n = 5
        idx = np.linspace(0, n_src - 1, n).round().astype(int)
        notes.append(f"the source video has only {n_src} frame(s); stretched to {n} frames")
        return idx, notes
    times = (np.arange(n) + int(start)) / fps
    idx = np.minimum((times * src_fps + 1e-6).astype(int), n_src - 1)
    if n != wanted:
        notes.append(f"the source video holds {n} frames at {fps:g} fps; generating {n} frames instead of {wanted}")
    return idx, notes


def output_frames(n_src: int, src_fps: float | None, fps: float) -> int:
    """How many frames a clip of ``n_src`` frames at ``src_fps`` gives at ``fps`` (its real duration)."""
    src_fps = float(src_fps) if src_fps and src_fps > 0 else float(fps)
    return max(1, int(n_src / src_fps * fps + 1e-6))


def whole_clip_frames(n_src: int, src_fps: float | None, fps: float, limit: int) -> tuple[int, list[str]]:
    """The frames that cover a clip at real speed for its whole length (4k+1), at most ``limit``, with a note
    when the limit (the ``max_video_seconds`` setting) cut it."""
    whole = max(5, snap_down_4k1(output_frames(n_src, src_fps, fps)))
    if whole <= limit:
        return whole, []
    n = snap_down_4k1(limit)
    return n, [
        f"the clip is {whole / fps:.1f} s long; its first {n / fps:.1f} s are used (max_video_seconds; raise "
        "--max-video-seconds / UNISON_MAX_VIDEO_SECONDS to use more)"
    ]


def window_warning(n_src: int, src_fps: float | None, used: int, fps: float) -> str | None:
    """What to tell the person when a clip is longer than the frames the generation uses (else None): they asked
    for a shorter length, or the clip is longer than the ``max_video_seconds`` setting."""
    total = output_frames(n_src, src_fps, fps)
    if used <= 1 or total <= used:
        return None
    whole = snap_down_4k1(total)
    if whole <= used:  # only a remainder shorter than one latent frame (4 frames) is left out
        return None
    return (
        f"the clip is {total / fps:.1f} s long but this generation covers only its first {used / fps:.1f} s "
        f"({used} frames at {fps:g} fps); leave the length out (or ask for --frames {whole}) to use the whole "
        "clip, up to the max_video_seconds setting"
    )


def uniform_indices(n_src: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``n_src`` frames (first and last included)."""
    return np.linspace(0, n_src - 1, n).round().astype(int)


# ----------------------------------------------------------------------------------------------------------
# pieces


def as_video(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W, 3) or (T, H, W, 3) -> (T, H, W, 3) uint8 (float frames in [0, 1] are converted)."""
    return as_frames(arr, what, convert=True)


def as_mask(arr: np.ndarray, what: str = "mask") -> np.ndarray:
    """(H, W), (T, H, W), (H, W, 3) or (T, H, W, 3) -> (T, H, W) uint8 0/255: white wherever the mask is not
    black, as VACE counts a mask (see :func:`mask_levels_of`)."""
    return binary_mask(mask_levels_of(arr, what))


def mask_levels_of(arr: np.ndarray, what: str = "mask") -> np.ndarray:
    """A mask array as (T, H, W) uint8 grey levels: RGB as PIL's grey (ITU-R 601 luma), floats in [0, 1] scaled
    to 0..255, booleans to 0/255."""
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        scale = 255.0 if np.issubdtype(a.dtype, np.floating) and float(a.max(initial=0)) <= 1.0 else 1.0
        a = np.clip(np.round(a.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    if a.ndim >= 3 and a.shape[-1] in (3, 4):
        a = luma(a[..., :3])
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] < 1:
        raise MediaError(f"{what}: expected (H, W) or (T, H, W) mask values, got an array of shape {np.shape(arr)}")
    return a


@dataclass
class Clip:
    """A source or control clip prepared for one generation window."""

    frames: np.ndarray  # (T, h, w, 3) uint8
    indices: np.ndarray  # which source frames they are
    width: int
    height: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def prepare_clip(
    frames: np.ndarray,
    src_fps: float | None,
    width: int,
    height: int,
    num_frames: int,
    fps: float,
    *,
    start: int = 0,
    total: int | None = None,
    src_size: tuple[int, int] | None = None,
) -> Clip:
    """Source/control frames -> the :class:`Clip` for the window of ``num_frames`` from output frame ``start``.

    A single frame stays a single frame when ``num_frames`` is 1, and is repeated for a video. A clip longer
    than the window is said in ``warnings`` (it belongs in the answer, not only in the notes); ``total`` is the
    clip's full frame count when only its start was decoded; ``src_size`` the file's own (w, h) when the frames
    were scaled while decoding (:func:`decode_size`).
    """
    frames = as_video(frames, "source")
    src_w, src_h = src_size or (frames.shape[2], frames.shape[1])
    w, h, notes = fit_size(src_w, src_h, width, height)
    warnings: list[str] = []
    if num_frames == 1:
        idx = np.array([0])
    elif frames.shape[0] == 1:
        idx = np.zeros(num_frames, dtype=int)
    else:
        idx, more = frame_indices(frames.shape[0], src_fps, num_frames, fps, start=start)
        notes += more
        warning = window_warning(max(int(total or 0), frames.shape[0]), src_fps, len(idx) + int(start), fps)
        if warning:
            warnings.append(warning)
    return Clip(cover_resize(frames[idx], w, h), idx, w, h, notes, warnings)


def prepare_mask(
    mask: np.ndarray, src_shape: tuple[int, int, int], idx: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, list[str]]:
    """A mask for a source of ``src_shape`` (T, H, W) -> (len(idx), height, width) 0/255, aligned with the source.

    A mask of another size is resized (nearest) to the source first; a mask image is repeated over all
    frames; a mask video of another length is resampled evenly to the source's length. Each is noted.
    """
    notes: list[str] = []
    m = as_mask(mask)
    t_src, h_src, w_src = src_shape
    mt, mh, mw = m.shape
    if (mh, mw) != (h_src, w_src):
        from PIL import Image

        m = np.stack([np.asarray(Image.fromarray(f).resize((w_src, h_src), Image.Resampling.NEAREST)) for f in m])
        notes.append(f"mask resized from {mw}x{mh} to {w_src}x{h_src} (the source's size)")
    if mt == 1:
        m = np.repeat(m, t_src, axis=0)
    elif mt != t_src:
        m = m[uniform_indices(mt, t_src)]
        notes.append(f"mask video resampled from {mt} to {t_src} frames (the source's length)")
    m = cover_resize(m[idx], width, height, nearest=True)
    return np.where(m >= 128, 255, 0).astype(np.uint8), notes


def anchor_clip(image: np.ndarray, num_frames: int, anchor: str) -> tuple[np.ndarray, np.ndarray]:
    """Image-to-video: the prepared frame first or last among grey frames; mask 0 there, 255 elsewhere."""
    if anchor not in ("first", "last"):
        raise UnisonError(f"frame_anchor must be 'first' or 'last', got {anchor!r}")
    h, w = image.shape[:2]
    video = np.full((num_frames, h, w, 3), GREY, dtype=np.uint8)
    mask = np.full((num_frames, h, w), 255, dtype=np.uint8)
    at = 0 if anchor == "first" else num_frames - 1
    video[at] = image
    mask[at] = 0
    return video, mask


# ----------------------------------------------------------------------------------------------------------
# a plan's inputs


def _read(
    path: str | Path,
    role: str,
    limits: MediaLimits | None,
    seconds: float | None = None,
    size: tuple[int, int] | None = None,
):
    """(array, fps, frames in the file) of a file; ``seconds``: decode only the start of a video that long.
    ``size`` (w, h): a video's frames are scaled to it as they are decoded (:func:`decode_size`; a mask with
    nearest-neighbour), so a long clip is never held at its own resolution."""
    from unison_agent.media.files import check_file, mask_levels, read_image, read_video

    info = check_file(path, limits)
    if role == "mask":  # grey levels: prepare_mask makes them 0/255, and the notes say how a soft mask counted
        return mask_levels(info.path, limits=limits, size=size), None, info.frames
    if info.kind != "video":
        return read_image(info.path, limits), None, 1
    max_frames = None
    if seconds is not None and info.fps:
        max_frames = math.ceil(seconds * float(info.fps)) + 2  # a frame of margin each side of the last one sampled
    video, fps = read_video(info.path, max_frames, limits=limits, size=size)
    return video, fps, max(int(info.frames or 0), len(video))


def decode_size(file_size: tuple[int, int] | None, width: int, height: int) -> tuple[int, int] | None:
    """The size a video of ``file_size`` is scaled to while it is decoded for an output of about ``width x height``:
    what :func:`prepare_clip` would scale it to before its centre crop (None: no smaller, keep it as it is)."""
    if file_size is None:
        return None
    tw, th, _ = fit_size(*file_size, width, height)
    scaled = cover_size(*file_size, tw, th)
    return scaled if scaled[0] < file_size[0] else None


def _load(
    plan: Plan,
    role: str,
    files: Mapping[str, Any],
    frames: Mapping[str, Any],
    limits: MediaLimits | None,
    seconds: float | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[Any, float | None] | None:
    """(array, fps, frames in the file) for ``role``: an array given in ``frames``, else a prepared file in
    ``files``, else the plan's file."""
    if frames.get(role) is not None:
        given = frames[role]
        return given, frames.get("fps"), len(given) if getattr(given, "ndim", 0) == 4 else 1
    path = files.get(role) or (plan.first(role).path if plan.first(role) is not None else None)
    return None if path is None else _read(path, role, limits, seconds, size)


def _file_size(plan: Plan, role: str, files: Mapping[str, Any], frames: Mapping[str, Any]) -> tuple[int, int] | None:
    """The (w, h) of ``role``'s file (None when it is given as an array or there is none)."""
    from unison_agent.media.files import check_file

    if frames.get(role) is not None:
        return None
    path = files.get(role) or (plan.first(role).path if plan.first(role) is not None else None)
    if path is None:
        return None
    info = check_file(path)
    return (int(info.width), int(info.height)) if info.width and info.height else None


def edit_mask(
    given: np.ndarray, name: str, src_shape: tuple[int, int, int], clip: Clip
) -> tuple[np.ndarray, list[str]]:
    """An edit's mask for the generated window: every pixel that is not black marks the area to regenerate (VACE's
    rule; a note when that differs from "grey >= 128" on more than 1 % of the pixels); a mask that marks nothing,
    in the file or inside the window, is a :class:`MediaError` that says so."""
    levels = mask_levels_of(given)
    notes = [n for n in [soft_mask_note(levels, name)] if n]
    if not levels.any():
        raise MediaError(
            f"the mask {name} marks nothing: every pixel is black, so nothing would be regenerated; paint the area "
            "to change in white (any colour that is not black counts), or leave the mask out and name the thing to "
            "change so the annotators find it"
        )
    mask, more = prepare_mask(levels, src_shape, clip.indices, clip.width, clip.height)
    if not mask.any():
        raise MediaError(
            f"the mask {name} marks nothing inside what is generated: the area it marks lies outside the "
            f"{clip.width}x{clip.height} crop of the source or outside the frames used; use a mask that marks the "
            "area to change within the picture"
        )
    return mask, notes + more


def _mask_name(plan: Plan, files: Mapping[str, Any], frames: Mapping[str, Any]) -> str:
    if frames.get("mask") is not None:
        return "(given as an array)"
    if files.get("mask"):
        return f"{Path(files['mask']).name} (made by the annotators)"
    ref = plan.first("mask")
    return Path(ref.path).name if ref is not None else "(none)"


def prepare_inputs(
    plan: Plan,
    files: Mapping[str, str | Path] | None = None,
    *,
    frames: Mapping[str, Any] | None = None,
    limits: MediaLimits | None = None,
) -> VaceInputs:
    """The VACE inputs for ``plan``: its files read and prepared as the method does. No annotator runs here.

    ``files`` maps a role to a map the graph's annotate step prepared: ``"control"`` (used as the control
    signal, whatever the plan's ``control`` says) and ``"mask"`` (the edit mask). A control plan whose input is
    not a ready map, or an edit without a mask, needs them: a :class:`PlanError` says so otherwise.
    ``frames`` maps a role ("source", "mask", "frame", "control", "reference") to arrays used instead of files
    (frames (H, W, 3) / (T, H, W, 3) uint8, masks (H, W) / (T, H, W) 0/255, a list of images for "reference";
    "fps" gives their frame rate). ``limits``: the media caps (the settings' ``limit_*``).
    """
    from unison_agent.contract.plan import CONTROL_TASKS, EDIT_TASKS, REFERENCE_TASKS, Task

    files, frames = dict(files or {}), dict(frames or {})
    task = plan.task
    w, h, n = int(plan.width), int(plan.height), int(plan.num_frames)
    fps = float(plan.fps or 16)

    if task in (Task.text_to_image, Task.text_to_video):
        return VaceInputs(w, h, n)

    if task is Task.video_extend:  # the clip's own frames, then the new ones (made window by window)
        from unison_agent.core.extend import extension_inputs

        return extension_inputs(plan, frames, limits, _load)

    if task in REFERENCE_TASKS:
        if frames.get("reference") is not None:
            refs = frames["reference"]
            refs = [refs] if isinstance(refs, np.ndarray) and refs.ndim == 3 else list(refs)
        else:
            refs = [_read(r.path, "reference", limits)[0] for r in plan.inputs_with_role("reference")]
        return VaceInputs(w, h, n, references=[fit_on_canvas(as_video(r, "reference")[0], w, h) for r in refs])

    if task is Task.image_to_video:
        image = (_load(plan, "frame", files, frames, limits, seconds=0.0) or (None,))[0]
        image = as_video(image, "frame")[:1]
        fw, fh, notes = fit_size(image.shape[2], image.shape[1], w, h)
        video, mask = anchor_clip(cover_resize(image, fw, fh)[0], n, plan.frame_anchor or "first")
        return VaceInputs(fw, fh, n, video=video, mask=mask, notes=notes)

    if task in EDIT_TASKS:
        # whole: a mask video is aligned to the source's full length
        size = _file_size(plan, "source", files, frames)
        scaled = decode_size(size, w, h)
        source, src_fps, _ = _load(plan, "source", files, frames, limits, size=scaled) or (None, None, 0)
        source = as_video(source, "source")
        clip = prepare_clip(source, src_fps, w, h, n, fps, src_size=size)
        # a mask file of the source's size is scaled with it while decoded (nearest); any other mask is fitted to
        # the source's own size first, as before
        with_source = scaled is not None and _file_size(plan, "mask", files, frames) == size
        mask_in = _load(plan, "mask", files, frames, limits, size=scaled if with_source else None)
        mask_size = scaled if with_source else size
        src_shape = (source.shape[0], mask_size[1], mask_size[0]) if mask_size else source.shape[:3]
        if mask_in is None:
            raise PlanError(
                f"{task.value} needs an edit mask and none was given or prepared; the graph's annotate step makes one "
                "from the target (called directly: pass files={'mask': path}, e.g. from `unison annotate mask`)"
            )
        mask, more = edit_mask(mask_in[0], _mask_name(plan, files, frames), src_shape, clip)
        return VaceInputs(
            clip.width,
            clip.height,
            clip.frames.shape[0],
            video=clip.frames,
            mask=mask,
            notes=clip.notes + more,
            warnings=clip.warnings,
        )

    if task in CONTROL_TASKS:
        # only the window's start is decoded (+ the rest is probed, to say when the clip is longer)
        size = _file_size(plan, "control", files, frames)
        control, src_fps, total = _load(
            plan, "control", files, frames, limits, seconds=n / fps, size=decode_size(size, w, h)
        ) or (None, None, 0)
        if plan.control not in (None, "ready") and not files.get("control") and frames.get("control") is None:
            raise PlanError(
                f"the control input of this {task.value} plan is not a control map yet ({plan.control} must be made "
                "first); the graph's annotate step makes it (called directly: pass files={'control': path}, e.g. "
                f"from `unison annotate {plan.control}`)"
            )
        clip = prepare_clip(
            as_video(control, "control"),
            src_fps,
            w,
            h,
            n,
            fps,
            total=total,
            src_size=size,
        )
        notes = list(clip.notes)
        if files.get("control"):
            notes.append(f"control signal: the {plan.control or 'prepared'} map {Path(files['control']).name}")
        return VaceInputs(
            clip.width, clip.height, clip.frames.shape[0], video=clip.frames, notes=notes, warnings=clip.warnings
        )

    raise PlanError(f"{task.value} is not a generation task; stage two generates images and videos only")


def fit_plan(
    plan: Plan,
    geometry: Mapping[str, tuple[int, int, int, float | None]] | None = None,
    *,
    whole_clip: int | None = None,
) -> tuple[Plan, list[str]]:
    """``plan`` with the size (and, for a clip, the frame count) generation will produce from its inputs.

    The input that sets the size is the source (edits), the frame (image-to-video) or the control input;
    ``geometry`` gives (width, height, frames, fps) for inputs that do not exist yet (an earlier step's
    output); other files are probed. Text and reference tasks keep the plan's size.

    ``whole_clip`` (the longest video allowed, in frames; given when nobody stated a length): a video edit or
    control plan takes its source clip at real speed for its whole length, up to that many frames (long clips
    are then made window by window).
    """
    from unison_agent.contract.plan import CONTROL_TASKS, EDIT_TASKS, Task
    from unison_agent.media.files import check_file

    role = {Task.image_to_video: "frame", Task.video_extend: "source"}.get(plan.task) or (
        "source" if plan.task in EDIT_TASKS else "control" if plan.task in CONTROL_TASKS else None
    )
    ref = plan.first(role) if role else None
    if ref is None:
        return plan, []
    if geometry and ref.path in geometry:
        src_w, src_h, src_n, src_fps = geometry[ref.path]
    else:
        info = check_file(ref.path)
        src_w, src_h, src_n, src_fps = info.width, info.height, info.frames, info.fps
    w, h, notes = fit_size(int(src_w), int(src_h), int(plan.width), int(plan.height))
    changes: dict[str, Any] = {}
    if (w, h) != (plan.width, plan.height):
        changes.update(width=w, height=h)
        notes.append(
            f"size {w}x{h}: the {ref.role}'s {src_w}x{src_h} aspect at about the {plan.width}x{plan.height} "
            "asked for (never upscaled)"
        )
    if plan.task is Task.video_extend:  # the clip + the frames added (unison_agent.core.extend)
        from unison_agent.core.extend import fit_extension

        fitted, more = fit_extension(plan.with_changes(**changes) if changes else plan, int(src_n or 1), src_fps)
        return fitted, notes + more
    n = int(plan.num_frames or 1)
    if plan.task.output == "video" and role != "frame" and int(src_n or 1) > 1:
        fps = float(plan.fps or 16)
        if whole_clip is not None:
            n, more = whole_clip_frames(int(src_n), src_fps, fps, whole_clip)
            if n != plan.num_frames:
                changes["num_frames"] = n
                notes += more or [f"{n} frames: the whole {ref.role} clip at its real speed ({fps:g} fps)"]
        idx, _ = frame_indices(int(src_n), src_fps, n, fps)
        if len(idx) != n:
            changes["num_frames"] = len(idx)
            notes.append(f"{len(idx)} frames: what the {ref.role} clip holds at {plan.fps or 16} fps")
    return (plan.with_changes(**changes) if changes else plan), notes
