"""Is a given control input already a control map, or natural media to annotate? Decided from the pixels alone.

A rendered pose skeleton on black, a depth map, an edge / scribble map, an optical-flow picture or a grey video is
used as given (VACE was trained on such maps); a natural photo or video goes through the annotator the request
asks for. File names and wording never decide it. Image statistics only, no model:

- **pose**: mostly pure black, the rest bright saturated colours (OpenPose limbs and joints);
- **edges** (canny / scribble): mostly pure black, the rest bright and colourless (thin white strokes);
- **depth**: colourless and smooth (few sharp local changes), spread over a wide range of values;
- **gray**: colourless but textured (a grey-scale video: VACE's "gray" control);
- **flow**: colourful, smooth and bright everywhere, its hues varying continuously (the flow colour wheel: no
  shadows, no texture, no large areas of one colour);
- **natural**: anything else (a flat, structureless frame and a picture of a few flat colours included).

:func:`classify_file` reads at most three frames (first, middle, last) at a reduced size; a still picture is never
judged a flow map (motion lives between frames; a smooth colourful still is a gradient, a sky, a graphic).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.media.files import MediaLimits

MapKind = Literal["pose", "depth", "edges", "flow", "gray", "natural"]

BLACK = 16
"""A pixel whose brightest channel is at most this is black (video compression lifts pure black a little)."""
_SIDE = 256


@dataclass(frozen=True)
class Verdict:
    """What a control input is, and why."""

    kind: MapKind
    reason: str

    @property
    def is_map(self) -> bool:
        return self.kind != "natural"

    @property
    def control(self) -> str | None:
        """The plan's ``control`` value for a map ("ready"), None for natural media."""
        return "ready" if self.is_map else None

    def note(self, path: str) -> str:
        name = Path(path).name
        if self.is_map:
            return f"{name} already is a {self.kind} map ({self.reason}): used as given"
        return f"{name} is natural media ({self.reason})"


def _small(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / _SIDE)))
    return frame[::step, ::step, :3].astype(np.float32)


def _stats(frame: np.ndarray) -> dict[str, float]:
    f = _small(frame)
    hi, lo = f.max(axis=-1), f.min(axis=-1)
    black = hi <= BLACK
    lit = ~black
    sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1), 0.0)
    gray = f.mean(axis=-1)
    # local change: mean absolute difference to the right and lower neighbours, relative to the value spread
    dx = np.abs(np.diff(gray, axis=1)).mean() if gray.shape[1] > 1 else 0.0
    dy = np.abs(np.diff(gray, axis=0)).mean() if gray.shape[0] > 1 else 0.0
    spread = float(np.percentile(gray, 95) - np.percentile(gray, 5))
    q = f.astype(np.int32) // 16  # 16 levels per channel: a flat colour stays one bin after compression
    _, counts = np.unique(q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2], return_counts=True)
    return {
        "black": float(black.mean()),
        "lit_bright": float((hi[lit] >= 96).mean()) if lit.any() else 0.0,
        "lit_saturated": float((sat[lit] >= 0.5).mean()) if lit.any() else 0.0,
        "colourless": float((hi - lo <= 12).mean()),
        "saturated": float((sat >= 0.25).mean()),
        "dark": float((hi < 64).mean()),
        "roughness": float((dx + dy) / 2 / max(spread, 1.0)),
        "spread": spread,
        "range": float(np.percentile(gray, 99.5) - np.percentile(gray, 0.5)),
        "few_colours": float(np.sort(counts)[::-1][:8].sum() / counts.sum()),
    }


def classify_frames(frames: np.ndarray) -> Verdict:
    """Classify (H, W, 3) or (T, H, W, 3) uint8 frames (a few are enough)."""
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] < 3:
        raise ValueError(f"expected (T, H, W, 3) frames, got shape {arr.shape}")
    stats = [_stats(f) for f in arr]
    s = {k: float(np.mean([x[k] for x in stats])) for k in stats[0]}
    if s["range"] < 16:
        return Verdict("natural", "flat: no structure to follow")
    if s["black"] >= 0.6 and s["lit_bright"] >= 0.5:
        if s["lit_saturated"] >= 0.5:
            return Verdict("pose", f"{s['black']:.0%} black, the rest bright colours")
        if s["lit_saturated"] <= 0.2:
            return Verdict("edges", f"{s['black']:.0%} black, the rest bright strokes")
    if s["colourless"] >= 0.97:
        if s["roughness"] <= 0.02 and s["spread"] >= 48:
            return Verdict("depth", "colourless and smooth over a wide range of values")
        return Verdict("gray", "colourless")
    if s["saturated"] >= 0.6 and s["roughness"] <= 0.02 and s["dark"] <= 0.05:
        if s["few_colours"] >= 0.5:
            return Verdict("natural", f"{s['few_colours']:.0%} in a few flat colours (a graphic, not a flow field)")
        return Verdict("flow", "smooth bright colours everywhere")
    return Verdict("natural", "textured colours")


def classify_file(path: str | Path, limits: MediaLimits | None = None) -> Verdict:
    """Classify an image or a video from at most three of its frames (first, middle, last), within ``limits``."""
    from unison_agent.media.files import kind_of, probe_video, read_image, read_video_frames

    if kind_of(str(path)) == "image":
        verdict = classify_frames(read_image(path, limits))
        if verdict.kind == "flow":  # motion lives between frames: a smooth colourful still is a picture
            return Verdict("natural", "smooth colours in a still picture (a flow map is a video)")
        return verdict
    total = probe_video(path, limits)["frames"]
    return classify_frames(read_video_frames(path, sorted({0, total // 2, max(0, total - 1)}), limits=limits))
