"""Depth control frames: Depth-Anything-V2 (transformers), per-frame min–max normalised to 3-channel uint8.

This is VACE's depth convention: each frame's relative depth (disparity: near = bright) is scaled to
[0, 255] on its own and repeated over the three channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.core.progress import restart, step
from unison_agent.tools.annotator_models import as_frames, batches, gray_to_rgb, load_cached

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

BATCH = 8


@dataclass
class DepthModel:
    """A loaded Depth-Anything model and its image processor."""

    model: Any
    processor: Any
    device: Any

    @classmethod
    def from_settings(cls, settings: Settings) -> DepthModel:
        """Load (once per process) the checkpoint named by ``settings.depth_model``."""

        def factory(path, device):
            from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

            processor = AutoImageProcessor.from_pretrained(path)
            model = DepthAnythingForDepthEstimation.from_pretrained(path).to(device).eval()
            return cls(model, processor, device)

        return load_cached("depth", settings, "depth_model", factory)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Raw relative depth (T, H, W) float32 at the frames' own size."""
        import torch

        frames = as_frames(frames)
        h, w = frames.shape[1:3]
        out = []
        restart("annotating")  # frames are counted from here (the model is loaded)
        for part in batches(len(frames), BATCH):
            chunk = list(frames[part])
            inputs = self.processor(images=chunk, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                outputs = self.model(**inputs)
            pred = outputs.predicted_depth.unsqueeze(1).float()
            pred = torch.nn.functional.interpolate(pred, size=(h, w), mode="bicubic", align_corners=False)
            out.append(pred[:, 0].cpu().numpy())
            step("annotating", part.stop, len(frames), annotator="depth")
        return np.concatenate(out).astype(np.float32)


def normalize_depth(depth: np.ndarray) -> np.ndarray:
    """Per-frame min–max of (T, H, W) depth to uint8 (T, H, W); a constant frame becomes black."""
    depth = np.asarray(depth, dtype=np.float32)
    lo = depth.reshape(len(depth), -1).min(axis=1)[:, None, None]
    hi = depth.reshape(len(depth), -1).max(axis=1)[:, None, None]
    span = np.where(hi - lo > 1e-8, hi - lo, 1.0)
    return np.clip(np.round((depth - lo) / span * 255.0), 0, 255).astype(np.uint8)


def depth_frames(frames: np.ndarray, settings: Settings) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> depth control frames (T, H, W, 3) uint8 (near = bright, per-frame min–max)."""
    frames = as_frames(frames)
    depth = DepthModel.from_settings(settings).predict(frames)
    return gray_to_rgb(normalize_depth(depth))
