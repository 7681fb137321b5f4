"""VACE input preparation as the method does it (not diffusers' shortcuts). Pure numpy + PIL, no torch.

- Size: keep the source's aspect ratio at about the requested area (capped by the source's own area, never
  upscaling), both sides multiples of 16; resize to cover (bicubic, antialiased; nearest for masks) and crop
  the centre.
- Frames: sample the source uniformly at the output frame rate from its start, as many frames as the plan
  asks for or the clip holds, rounded down to 4k+1.
- Masks: uint8 0/255, white = generate. A mask of another size than its source is first resized (nearest)
  to the source, a mask image is repeated over all frames of a video; both are reported in ``notes``.
- References: fitted (bilinear) inside a white canvas of the output size, centred.
- Image-to-video: the given frame first or last, grey (127) frames elsewhere; mask 0 on the given frame,
  255 elsewhere.

Everything returns frames as (T, H, W, 3) uint8 and masks as (T, H, W) uint8; :class:`VaceInputs` turns them
into the PIL lists ``WanVACEPipeline`` takes, with the prepared size and frame count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import MediaError, UnisonError
from .media import as_frames
from .plan import MAX_SIDE, MIN_SIDE

UNIT = 16
"""Side lengths are multiples of this (VAE stride 8 x patch 2)."""
GREY = 127
"""Value of the "to be generated" frames around a given frame (the reference's 127.5 rounded down)."""
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

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``WanVACEPipeline.__call__`` (PIL lists at exactly the prepared size)."""
        from PIL import Image

        kwargs: dict[str, Any] = {"height": self.height, "width": self.width, "num_frames": self.num_frames}
        if self.video is not None:
            kwargs["video"] = [Image.fromarray(f) for f in self.video]
            if self.mask is not None:
                kwargs["mask"] = [Image.fromarray(m, mode="L") for m in self.mask]
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
    """
    if src_w <= 0 or src_h <= 0:
        raise MediaError(f"a source of {src_w}x{src_h} pixels has no content")
    notes: list[str] = []
    ratio = src_h / src_w
    area_units = min(width * height, src_w * src_h) / (UNIT * UNIT)
    oh = max(1, round(math.sqrt(area_units * ratio)))
    ow = max(1, int(area_units / oh))
    w, h = ow * UNIT, oh * UNIT
    cw = int(min(MAX_SIDE, max(MIN_SIDE, w)))
    ch = int(min(MAX_SIDE, max(MIN_SIDE, h)))
    if (cw, ch) != (w, h):
        notes.append(
            f"a {src_w}x{src_h} source gives {w}x{h}, outside the {MIN_SIDE}..{MAX_SIDE} px sides the model "
            f"takes; using {cw}x{ch} (cropped to cover)"
        )
    return cw, ch, notes


def check_budget(width: int, height: int, num_frames: int) -> None:
    """Refuse sizes whose transformer sequence would not fit any GPU (clear error instead of an OOM deep inside)."""
    tokens = ((num_frames - 1) // 4 + 1) * (height // UNIT) * (width // UNIT)
    if tokens > MAX_LATENT_TOKENS:
        raise UnisonError(
            f"{width}x{height} with {num_frames} frames needs {tokens:,} transformer tokens, more than the "
            f"{MAX_LATENT_TOKENS:,} this tool allows (832x480x81 needs 32,760); ask for a smaller size or fewer frames"
        )


def cover_resize(frames: np.ndarray, width: int, height: int, *, nearest: bool = False) -> np.ndarray:
    """Resize (T, H, W[, 3]) uint8 frames to cover ``width x height`` and crop the centre.

    Bicubic (antialiased when shrinking) for pictures, nearest for masks.
    """
    from PIL import Image

    ih, iw = frames.shape[1:3]
    if (iw, ih) == (width, height):
        return frames
    scale = max(width / iw, height / ih)
    nw, nh = max(width, round(iw * scale)), max(height, round(ih * scale))
    left, top = (nw - width) // 2, (nh - height) // 2
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    out = [
        np.asarray(Image.fromarray(f).resize((nw, nh), method))[top : top + height, left : left + width]
        for f in frames
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


def frame_indices(n_src: int, src_fps: float | None, wanted: int, fps: float) -> tuple[np.ndarray, list[str]]:
    """Indices that sample a clip uniformly at ``fps`` from its start: ``wanted`` frames or as many as it holds.

    The count is 4k+1 (at least 5). A clip too short for 5 frames at ``fps`` is stretched uniformly to 5.
    """
    notes: list[str] = []
    src_fps = float(src_fps) if src_fps and src_fps > 0 else float(fps)
    available = max(1, int(n_src / src_fps * fps + 1e-6))
    n = min(wanted, snap_down_4k1(available))
    if n < 5:
        n = 5
        idx = np.linspace(0, n_src - 1, n).round().astype(int)
        notes.append(f"the source video has only {n_src} frame(s); stretched to {n} frames")
        return idx, notes
    times = np.arange(n) / fps
    idx = np.minimum((times * src_fps + 1e-6).astype(int), n_src - 1)
    if n != wanted:
        notes.append(f"the source video holds {n} frames at {fps:g} fps; generating {n} frames instead of {wanted}")
    return idx, notes


def uniform_indices(n_src: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``n_src`` frames (first and last included)."""
    return np.linspace(0, n_src - 1, n).round().astype(int)


# ----------------------------------------------------------------------------------------------------------
# pieces


def as_video(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W, 3) or (T, H, W, 3) -> (T, H, W, 3) uint8 (float frames in [0, 1] are converted)."""
    return as_frames(arr, what, convert=True)


def as_mask(arr: np.ndarray, what: str = "mask") -> np.ndarray:
    """(H, W), (T, H, W), (H, W, 3) or (T, H, W, 3) -> (T, H, W) uint8 0/255 (white = generate)."""
    a = np.asarray(arr)
    if a.ndim >= 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].astype(np.float32).mean(axis=-1)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] < 1:
        raise MediaError(f"{what}: expected (H, W) or (T, H, W) mask values, got an array of shape {np.shape(arr)}")
    threshold = 0.5 if a.dtype != np.uint8 and float(a.max(initial=0)) <= 1.0 else 128
    return np.where(a >= threshold, 255, 0).astype(np.uint8)


def prepare_clip(
    frames: np.ndarray, src_fps: float | None, width: int, height: int, num_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray, int, int, list[str]]:
    """Source/control frames -> (prepared (T, h, w, 3), source frame indices used, w, h, notes).

    A single frame stays a single frame when ``num_frames`` is 1, and is repeated for a video.
    """
    frames = as_video(frames, "source")
    src_h, src_w = frames.shape[1:3]
    w, h, notes = fit_size(src_w, src_h, width, height)
    if num_frames == 1:
        idx = np.array([0])
    elif frames.shape[0] == 1:
        idx = np.zeros(num_frames, dtype=int)
    else:
        idx, more = frame_indices(frames.shape[0], src_fps, num_frames, fps)
        notes += more
    return cover_resize(frames[idx], w, h), idx, w, h, notes


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
