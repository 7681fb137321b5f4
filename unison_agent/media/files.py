"""Media files: kinds, content checks, reading frames, and atomic writing of PNG / H.264 MP4.

Frames are numpy arrays: images (H, W, 3) uint8 RGB, videos (T, H, W, 3) uint8 RGB. Masks are
(H, W) or (T, H, W) uint8 with 255 = generate/edit, 0 = keep.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unison_agent.contract.errors import MediaError

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


_LIMIT_UNITS = {"file_bytes": "bytes", "image_pixels": "pixels", "video_seconds": "seconds", "video_frames": "frames"}


@dataclass(frozen=True)
class MediaLimits:
    """Caps on the files a request names, from the ``limit_*`` settings (env ``UNISON_LIMIT_*``).

    They are checked from what a file declares (its size, an image header, a video container's metadata) before
    any pixel is decoded, and again while decoding (a container can under-report its length).
    """

    file_bytes: int
    image_pixels: int
    video_seconds: float
    video_frames: int

    @classmethod
    def from_settings(cls, settings: Any = None) -> MediaLimits:
        """The caps ``settings`` sets; the settings' defaults when None."""
        if settings is None:
            from unison_agent.contract.settings import Settings

            fields = Settings.model_fields
            return cls(**{name: fields[f"limit_{name}"].default for name in _LIMIT_UNITS})
        return cls(**{name: getattr(settings, f"limit_{name}") for name in _LIMIT_UNITS})

    def refuse(self, path: str | os.PathLike[str], found: str, name: str) -> MediaError:
        """The error for a file over the cap ``name``: what was found, the cap, and the setting that raises it."""
        cap = getattr(self, name)
        return MediaError(
            f"{path}: {found}, over the limit of {cap:,} {_LIMIT_UNITS[name]}; to allow it, raise the setting "
            f"limit_{name} (environment variable UNISON_LIMIT_{name.upper()})"
        )


def _limits(limits: MediaLimits | None) -> MediaLimits:
    return limits if limits is not None else MediaLimits.from_settings(None)


@dataclass(frozen=True)
class MediaInfo:
    """What a content check found."""

    path: Path
    kind: str
    width: int
    height: int
    frames: int  # 1 for images; for videos the container's count (or its duration x frame rate)
    fps: float | None
    is_mask: bool  # a single-channel (or grey) image with only two values
    seconds: float | None = None  # a video's duration


def check_file(path: str | os.PathLike[str], limits: MediaLimits | None = None) -> MediaInfo:
    """Check that ``path`` exists, is readable, is within ``limits``, and its content matches its extension.

    An image is decoded (it is small: its header was checked against the pixel cap first); a video is probed,
    not decoded: its container's metadata is checked against the caps and only its first frame is decoded.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise MediaError(f"{path}: no such file; check the path (relative paths are read from {Path.cwd()})")
    if not p.is_file():
        raise MediaError(f"{path}: is not a file")
    if not os.access(p, os.R_OK):
        raise MediaError(f"{path}: cannot be read (permission denied)")
    kind = kind_of(p)
    if kind == "image":
        img = _open_image(p, limits)
        return MediaInfo(p, "image", img.width, img.height, 1, None, _looks_like_mask(img))
    meta = probe_video(p, limits)
    return MediaInfo(p, "video", meta["width"], meta["height"], meta["frames"], meta["fps"], False, meta["seconds"])


def _check_bytes(p: Path, limits: MediaLimits) -> None:
    size = p.stat().st_size
    if size > limits.file_bytes:
        raise limits.refuse(p, f"the file has {size:,} bytes ({size / 2**30:.2f} GiB)", "file_bytes")


def _check_pixels(p: Path, width: int, height: int, limits: MediaLimits, what: str = "the image") -> None:
    if width * height > limits.image_pixels:
        raise limits.refuse(p, f"{what} is {width}x{height} = {width * height:,} pixels", "image_pixels")


def _open_image(p: Path, limits: MediaLimits | None = None):
    """The image, loaded; refused (MediaError) over the byte or pixel cap before its pixels are decoded."""
    from PIL import Image, UnidentifiedImageError

    limits = _limits(limits)
    _check_bytes(p, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(p)  # reads the header only
            _check_pixels(p, img.width, img.height, limits)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(
            f"{p}: refused as a possible decompression bomb ({exc}); Pillow refuses images over "
            f"PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,} pixels, whatever the setting "
            f"limit_image_pixels (UNISON_LIMIT_IMAGE_PIXELS) allows"
        ) from None
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


def read_image(path: str | os.PathLike[str], limits: MediaLimits | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    return np.asarray(_open_image(Path(path), limits).convert("RGB"))


def read_mask(path: str | os.PathLike[str], *, video: bool = False, limits: MediaLimits | None = None) -> np.ndarray:
    """A mask file as uint8 0/255 (white = edit): (H, W) for an image, (T, H, W) for a video.

    Every pixel that is not black marks the area to regenerate, as VACE's inpainting annotator counts a mask
    (the file read as grey, then ``> 0``): a pure red mask marks its red area (see :func:`binary_mask`)."""
    return binary_mask(mask_levels(path, limits=limits))


def mask_levels(
    path: str | os.PathLike[str], *, limits: MediaLimits | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """A mask file's grey levels, uint8 (H, W) for an image, (T, H, W) for a video: the file read as grey the
    way VACE reads a mask (PIL's ``convert("L")``, ITU-R 601 luma; video frames by the same formula). ``size``
    (w, h): a video's frames are made grey and scaled to it (nearest) one by one as they are decoded."""
    if kind_of(path) == "video":
        p = Path(path)
        with _video(p, limits) as (container, stream, _meta):
            kept, _, _ = _decode(p, container, stream, _limits(limits), None, None, size, grey=True)
        if not kept:
            raise MediaError(f"{path}: the video has no decodable frames")
        return np.stack([kept[i] for i in sorted(kept)])
    return np.asarray(_open_image(Path(path), limits).convert("L"))


def luma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) uint8 grey, exactly as PIL's ``convert("L")`` computes it."""
    a = np.asarray(rgb, dtype=np.uint32)
    return ((a[..., 0] * 19595 + a[..., 1] * 38470 + a[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def binary_mask(levels: np.ndarray) -> np.ndarray:
    """Grey levels -> uint8 0/255: 255 wherever the level is not 0 (VACE's ``mask > 0``)."""
    return np.where(np.asarray(levels) > 0, 255, 0).astype(np.uint8)


SOFT_MASK_SHARE = 0.01
"""Share of a mask's pixels that may be dark but not black before a note says how they were counted."""


def soft_mask_note(levels: np.ndarray, name: str) -> str | None:
    """A note when more than 1 % of a mask's pixels are dark but not black (grey 1..127: a soft, coloured or
    JPEG-compressed mask): VACE counts them as to regenerate, a "grey >= 128" rule would not."""
    levels = np.asarray(levels)
    share = float(((levels > 0) & (levels < 128)).mean()) if levels.size else 0.0
    if share <= SOFT_MASK_SHARE:
        return None
    return (
        f"the mask {name}: {share:.1%} of its pixels are dark but not black (grey 1..127: a soft, coloured or "
        "compressed mask); they are regenerated too, as VACE counts a mask (every pixel that is not black)"
    )


@contextmanager
def _video(path: str | os.PathLike[str], limits: MediaLimits | None) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """(container, video stream, metadata) of a video within ``limits``; decoding errors become MediaErrors."""
    import av

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{path}: no such file")
    limits = _limits(limits)
    _check_bytes(p, limits)
    try:
        container = av.open(str(p))
    except Exception as exc:  # av raises many error types for damaged files
        raise MediaError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from None
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        meta = _metadata(container, stream)
        _check_pixels(p, meta["width"], meta["height"], limits, "a frame")
        if meta["seconds"] is not None and meta["seconds"] > limits.video_seconds:
            raise limits.refuse(p, f"the video lasts {meta['seconds']:,.1f} seconds", "video_seconds")
        if meta["frames"] > limits.video_frames:
            raise limits.refuse(p, f"the video has {meta['frames']:,} frames", "video_frames")
        yield container, stream, meta
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from None
    finally:
        container.close()


def _metadata(container: Any, stream: Any) -> dict[str, Any]:
    """What the container says: width, height, frames (0 if unknown), fps (None if unknown), seconds."""
    import av

    fps = float(stream.average_rate or stream.guessed_rate or 0) or None
    seconds = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / av.time_base
    frames = int(stream.frames or 0)
    if not frames and seconds and fps:
        frames = round(seconds * fps)
    if seconds is None and frames and fps:
        seconds = frames / fps
    ctx = stream.codec_context
    return {"width": int(ctx.width), "height": int(ctx.height), "frames": frames, "fps": fps, "seconds": seconds}


def _decode(
    path: Path,
    container: Any,
    stream: Any,
    limits: MediaLimits,
    keep: set[int] | None,
    stop: int | None,
    size: tuple[int, int] | None = None,
    *,
    grey: bool = False,
):
    """Decode frames in order, keeping the indices in ``keep`` (all when None), up to ``stop`` frames; the caps
    hold while decoding. ``size`` (w, h): each kept frame is resized to it (bicubic, antialiased) as it is decoded,
    so a long clip is never held at its own resolution; ``grey``: kept as grey levels (luma), resized nearest. Returns (kept (H, W, 3) frames by index, decoded count, the
    last decoded frame or None)."""

    def rgb(frame: Any) -> np.ndarray:
        arr = frame.to_ndarray(format="rgb24")
        if grey:  # a mask: grey levels, scaled nearest-neighbour
            arr = luma(arr)
        if size is None or (arr.shape[1], arr.shape[0]) == tuple(size):
            return arr
        from PIL import Image

        method = Image.Resampling.NEAREST if grey else Image.Resampling.BICUBIC
        return np.asarray(Image.fromarray(arr).resize(tuple(size), method))

    kept: dict[int, np.ndarray] = {}
    count, last = 0, None
    for frame in container.decode(stream):
        if count == 0:
            _check_pixels(path, frame.width, frame.height, limits, "a frame")
        count += 1
        if count > limits.video_frames:
            raise limits.refuse(path, f"the video has more than {limits.video_frames:,} frames", "video_frames")
        if frame.time is not None and frame.time > limits.video_seconds:
            raise limits.refuse(path, f"the video lasts more than {frame.time:,.1f} seconds", "video_seconds")
        last = frame
        if keep is None or count - 1 in keep:
            kept[count - 1] = rgb(frame)
        if stop is not None and count >= stop:
            break
    tail = None if last is None else kept.get(count - 1)
    if last is not None and tail is None:
        tail = rgb(last)
    return kept, count, tail


def probe_video(path: str | os.PathLike[str], limits: MediaLimits | None = None) -> dict[str, Any]:
    """width, height, frames, fps, seconds from the container, checked against ``limits``; only the first frame is
    decoded (so a damaged file is caught here). Frames are counted by decoding (nothing kept) only when the
    container gives neither a frame count nor a duration."""
    p = Path(path)
    with _video(p, limits) as (container, stream, meta):
        first, _, _ = _decode(p, container, stream, _limits(limits), None, 1)
        if not first:
            raise MediaError(f"{path}: the video has no decodable frames")
        height, width = first[0].shape[:2]
    frames = meta["frames"]
    if frames <= 0:  # neither a count nor a duration: count them (bounded by the caps, nothing kept)
        with _video(p, limits) as (container, stream, _meta):
            frames = _decode(p, container, stream, _limits(limits), set(), None)[1]
    fps = meta["fps"] or 16.0
    seconds = meta["seconds"] if meta["seconds"] is not None else frames / fps
    return {"width": int(width), "height": int(height), "frames": int(frames), "fps": fps, "seconds": seconds}


def read_video(
    path: str | os.PathLike[str],
    max_frames: int | None = None,
    *,
    limits: MediaLimits | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, float]:
    """All frames (or the first ``max_frames``) as (T, H, W, 3) uint8 RGB, and the frame rate. MediaError if it
    cannot be decoded or is over ``limits``. ``size`` (w, h): frames resized to it as they are decoded."""
    p = Path(path)
    with _video(p, limits) as (container, stream, meta):
        kept, _, _ = _decode(p, container, stream, _limits(limits), None, max_frames, size)
    if not kept:
        raise MediaError(f"{path}: the video has no decodable frames")
    return np.stack([kept[i] for i in sorted(kept)]), meta["fps"] or 16.0


def read_video_frames(
    path: str | os.PathLike[str], indices: list[int] | np.ndarray, *, limits: MediaLimits | None = None
) -> np.ndarray:
    """Only the frames at ``indices`` (T, H, W, 3), decoding no further than the largest one and keeping nothing
    else in memory. An index past the real end (a container that over-reports its length) gets the last frame."""
    p = Path(path)
    wanted = [int(i) for i in indices]
    if not wanted:
        raise MediaError(f"{path}: no frames asked for")
    with _video(p, limits) as (container, stream, _meta):
        kept, _count, tail = _decode(p, container, stream, _limits(limits), set(wanted), max(wanted) + 1)
    if tail is None:
        raise MediaError(f"{path}: the video has no decodable frames")
    return np.stack([kept.get(i, tail) for i in wanted])


# ----------------------------------------------------------------------------------------------------------
# atomic writing
#
# Every file is written under a hidden temporary name (".<name>.<random>.tmp", which no listing by extension
# matches) and renamed into place. An output and its JSON sidecar are one unit (:func:`output_unit`): both are
# written to temporary names, then the output is renamed, then the sidecar, so a sidecar on disk always means a
# complete output beside it, and :func:`list_outputs` (outputs that have their sidecar) never shows a half-made one.

TMP_SUFFIX = ".tmp"


def _temp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    return Path(tmp)


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one rename."""
    target = Path(target)
    tmp_path = _temp_beside(target)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def sidecar_path(output: str | os.PathLike[str]) -> Path:
    """The JSON sidecar beside an output: ``x.png`` -> ``x.json``, ``x.mask.mp4`` -> ``x.mask.json``."""
    return Path(output).with_suffix(".json")


@dataclass
class PendingOutput:
    """An output being written: write the file to ``tmp``, set ``record``; the unit is committed on exit."""

    path: Path
    sidecar: Path
    tmp: Path
    record: dict[str, Any] | None = None


@contextmanager
def output_unit(path: str | os.PathLike[str]) -> Iterator[PendingOutput]:
    """An output and its sidecar as one unit.

    Write the output to ``unit.tmp`` and set ``unit.record`` (the sidecar's content) inside the block. On exit the
    sidecar is written to its own temporary name, then the output is renamed into place, then the sidecar (last).
    An error inside the block (or a missing record) leaves neither file, only nothing: the temporaries are removed.
    """
    path = Path(path)
    unit = PendingOutput(path, sidecar_path(path), _temp_beside(path))
    side_tmp: Path | None = None
    try:
        yield unit
        if unit.record is None:
            raise ValueError(f"{path}: an output is written with its sidecar; set unit.record")
        side_tmp = _temp_beside(unit.sidecar)
        side_tmp.write_text(_json_text({"output": path.name, **unit.record}), encoding="utf-8")
        os.replace(unit.tmp, path)
        os.replace(side_tmp, unit.sidecar)
    finally:
        unit.tmp.unlink(missing_ok=True)
        if side_tmp is not None:
            side_tmp.unlink(missing_ok=True)


def write_output(
    path: str | os.PathLike[str], data: np.ndarray, record: dict[str, Any], *, fps: float = 16
) -> tuple[Path, Path]:
    """Write an output and its sidecar as one unit (:func:`output_unit`): an image path takes (H, W, 3) or (H, W),
    a video path (T, H, W, 3) or (T, H, W). Returns (output, sidecar)."""
    with output_unit(path) as unit:
        if kind_of(path) == "image":
            save_image(unit.tmp, data)
        else:
            save_video(unit.tmp, data, fps)
        unit.record = record
    return unit.path, unit.sidecar


def list_outputs(folder: str | os.PathLike[str]) -> list[Path]:
    """The complete outputs in ``folder`` (sorted): media files whose sidecar exists; temporaries never show."""
    found = []
    for p in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
            continue
        if sidecar_path(p).is_file():
            found.append(p)
    return found


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write (H, W, 3) or (H, W) uint8 as PNG, atomically."""
    with atomic_path(path) as tmp:
        save_image(tmp, image)
    return Path(path)


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: float = 16) -> Path:
    """Write (T, H, W, 3) uint8 (or (T, H, W) masks) as H.264 MP4 (yuv420p), atomically."""
    with atomic_path(path) as tmp:
        save_video(tmp, frames, fps)
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON atomically (UTF-8, indented)."""
    with atomic_path(path) as tmp:
        tmp.write_text(_json_text(data), encoding="utf-8")
    return Path(path)


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def save_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Encode (H, W, 3) or (H, W) as PNG at ``path`` as it is (not atomic: inside :func:`output_unit`, or use
    :func:`write_image`)."""
    from PIL import Image

    Image.fromarray(_as_uint8(image)).save(path, format="PNG")


def save_video(path: str | os.PathLike[str], frames: np.ndarray, fps: float = 16) -> None:
    """Encode (T, H, W, 3) or (T, H, W) as H.264 MP4 at ``path`` as it is (not atomic: see :func:`save_image`)."""
    import av

    arr = _as_uint8(frames)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    t, h, w, _ = arr.shape
    if h % 2 or w % 2:  # yuv420p needs even sides
        arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", format="mp4") as container:
        from fractions import Fraction

        rate = Fraction(fps).limit_denominator(1000)
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / rate
        stream.options = {"crf": "18", "preset": "medium"}
        for i, frame in enumerate(arr):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts, picture.time_base = i, 1 / rate  # stated timestamps: the same frames encode the same
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _as_uint8(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)
