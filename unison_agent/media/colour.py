"""Colour matching between video windows: LAB mean/std transfer (Reinhard et al.), measured on the overlap.

A window generated after another sees the previous window's last frames as its kept context; its output drifts
in colour a little (VACE's chained extensions build up a tint, ali-vilab/VACE#44). :func:`lab_stats` measures the
per-channel mean and standard deviation in CIE LAB over some frames, and :func:`transfer` moves frames from one
set of statistics to another. Frames are float32 RGB in [0, 1], shape (T, H, W, 3); nothing here keeps state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_STD = 1e-3
"""Below this a channel is flat: its spread is left as it is (only the mean moves)."""
MAX_GAIN = 2.0
"""A std ratio is held within [1/MAX_GAIN, MAX_GAIN] so a near-flat overlap cannot blow a window's contrast up."""


@dataclass(frozen=True)
class LabStats:
    """Per-channel (L, a, b) mean and standard deviation."""

    mean: np.ndarray
    std: np.ndarray


def to_lab(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) float RGB in [0, 1] -> float32 LAB (L in 0..100, a/b about -128..127), OpenCV's sRGB/D65."""
    import cv2

    rgb = np.clip(np.asarray(frames, dtype=np.float32), 0.0, 1.0)
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2LAB) for f in rgb])


def from_lab(lab: np.ndarray) -> np.ndarray:
    """LAB -> float32 RGB in [0, 1] (clipped)."""
    import cv2

    rgb = np.stack([cv2.cvtColor(np.ascontiguousarray(f, dtype=np.float32), cv2.COLOR_LAB2RGB) for f in lab])
    return np.clip(rgb, 0.0, 1.0)


def lab_stats(frames: np.ndarray) -> LabStats:
    """Mean and std per LAB channel over all pixels of ``frames``."""
    lab = to_lab(frames).reshape(-1, 3).astype(np.float64)
    return LabStats(lab.mean(0), lab.std(0))


def transfer(frames: np.ndarray, source: LabStats, target: LabStats) -> np.ndarray:
    """``frames`` moved from the colour statistics ``source`` to ``target`` (per LAB channel:
    ``(x - mean_s) * std_t / std_s + mean_t``)."""
    gain = np.where(source.std > MIN_STD, target.std / np.maximum(source.std, MIN_STD), 1.0)
    gain = np.clip(gain, 1.0 / MAX_GAIN, MAX_GAIN)
    lab = to_lab(frames).astype(np.float64)
    lab = (lab - source.mean) * gain + target.mean
    return from_lab(lab.astype(np.float32))


def match_to(frames: np.ndarray, measured: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``frames`` colour-matched so that ``measured`` (some of them, e.g. a window's overlap) would have the
    LAB statistics of ``reference`` (the frames they should look like, e.g. the kept frames)."""
    return transfer(frames, lab_stats(measured), lab_stats(reference))


__all__ = ["LabStats", "from_lab", "lab_stats", "match_to", "to_lab", "transfer"]
