"""Media files: kinds, content checks, reading frames, and atomic writing of PNG / H.264 MP4.

Frames are numpy arrays: images (H, W, 3) uint8 RGB, videos (T, H, W, 3) uint8 RGB. Masks are
(H, W) or (T, H, W) uint8 with 255 = generate/edit, 0 = keep.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MediaError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


def kind_of(path: str | os.PathLike[str]) -> str:
    """'image' or 'video' by extension; a MediaError for anything else."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    raise MediaError(
        f"{path}: unsupported file type {ext or '(no extension)'!r}; images: "
        f"{', '.join(sorted(IMAGE_EXTENSIONS))}; videos: {', '.join(sorted(VIDEO_EXTENSIONS))}"
    )


@dataclass(frozen=True)
class MediaInfo:
    """What a content check found."""

    path: Path
    kind: str
    width: int
    height: int
    frames: int  # 1 for images
    fps: float | None
    is_mask: bool  # a single-channel (or grey) image with only two values


def check_file(path: str | os.PathLike[str]) -> MediaInfo:
    """Check that ``path`` exists, is readable, and its content matches its extension."""
    p = Path(path).expanduser()
    if not p.exists():
        raise MediaError(f"{path}: no such file; check the path (relative paths are read from {Path.cwd()})")
    if not p.is_file():
        raise MediaError(f"{path}: is not a file")
    if not os.access(p, os.R_OK):
        raise MediaError(f"{path}: cannot be read (permission denied)")
    kind = kind_of(p)
    if kind == "image":
        img = _open_image(p)
        return MediaInfo(p, "image", img.width, img.height, 1, None, _looks_like_mask(img))
    meta = probe_video(p)
    return MediaInfo(p, "video", meta["width"], meta["height"], meta["frames"], meta["fps"], False)


def _open_image(p: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(p)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise MediaError(f"{p}: not a readable image ({exc.__class__.__name__}: {exc})") from None
    return img


def _looks_like_mask(img) -> bool:
    """A mask is a single-channel (or grey RGB) image whose pixels take at most two values, one of them 0."""
    if img.mode in ("1",):
        return True
    arr = np.asarray(img.convert("L") if img.mode in ("L", "LA", "P", "I", "I;16") else img.convert("RGB"))
    if arr.ndim == 3:
        if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])):
            return False
        arr = arr[..., 0]
    values = np.unique(arr)
    return len(values) <= 2 and values.min() <= 8 and (len(values) == 1 or values.max() >= 200)


def as_frames(arr: np.ndarray, what: str = "frames", *, convert: bool = False) -> np.ndarray:
    """(H, W, 3) or (T, H, W, 3) RGB -> (T, H, W, 3) uint8, writable; a MediaError for any other shape.

    With ``convert``, float frames in [0, 1] (or other numeric types) are turned into uint8; without it a
    non-uint8 array is an error.
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[-1] == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.shape[0] < 1:
        raise MediaError(f"{what}: expected (H, W, 3) or (T, H, W, 3) RGB frames, got an array of shape {a.shape}")
    if a.dtype != np.uint8:
        if not convert:
            raise MediaError(f"{what}: expected uint8 frames, got {a.dtype}")
        scaled = a * 255.0 if np.issubdtype(a.dtype, np.floating) and a.max() <= 1.0 else a
        a = np.clip(scaled, 0, 255).astype(np.uint8)
    if not a.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only arrays
        a = a.copy()
    return a


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    return np.asarray(_open_image(Path(path)).convert("RGB"))


def read_mask(path: str | os.PathLike[str], *, video: bool = False) -> np.ndarray:
    """A mask file as uint8 0/255 (white = edit): (H, W) for an image, (T, H, W) for a video."""
    if kind_of(path) == "video":
        frames, _ = read_video(path)
        gray = frames.mean(axis=-1)
    else:
        gray = np.asarray(_open_image(Path(path)).convert("L"), dtype=np.float32)
    return np.where(gray >= 128, 255, 0).astype(np.uint8)


def probe_video(path: str | os.PathLike[str]) -> dict[str, Any]:
    """width, height, frames (decoded count), fps. Decodes the stream, so a damaged file is caught here."""
    frames, fps = read_video(path)
    return {"width": int(frames.shape[2]), "height": int(frames.shape[1]), "frames": int(frames.shape[0]), "fps": fps}


def read_video(path: str | os.PathLike[str], max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """All frames (T, H, W, 3) uint8 RGB and the frame rate. MediaError if it cannot be decoded."""
    import av

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{path}: no such file")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 16)
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except MediaError:
        raise
    except Exception as exc:  # av raises many error types for damaged files
        raise MediaError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from None
    if not frames:
        raise MediaError(f"{path}: the video has no decodable frames")
    return np.stack(frames), fps


# ----------------------------------------------------------------------------------------------------------
# atomic writing


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write (H, W, 3) or (H, W) uint8 as PNG, atomically."""
    from PIL import Image

    arr = _as_uint8(image)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return Path(path)


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: float = 16) -> Path:
    """Write (T, H, W, 3) uint8 (or (T, H, W) masks) as H.264 MP4 (yuv420p), atomically."""
    import av

    arr = _as_uint8(frames)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    t, h, w, _ = arr.shape
    if h % 2 or w % 2:  # yuv420p needs even sides
        arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            from fractions import Fraction

            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height = arr.shape[2], arr.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18", "preset": "medium"}
            for frame in arr:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON atomically (UTF-8, indented)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return Path(path)


def _as_uint8(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)
