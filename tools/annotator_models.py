"""Shared plumbing for the annotators: frame checks, checkpoint directories, and cached model loading.

Every annotator model loads through :func:`load_cached`, i.e. ``unison_agent.models.registry.registry()``, keyed by
(kind, checkpoint path, device), so a model is loaded once per process whoever asks. Annotators run in
float32: they are small, and detection/segmentation heads are sensitive to half precision.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from unison_agent.contract.errors import MediaError, WeightsError
from unison_agent.core.progress import quiet_library_bars
from unison_agent.media.files import as_frames as media_frames
from unison_agent.models.registry import pick_device, registry

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

T = TypeVar("T")

_SETTING_HINT = {
    "depth_model": "UNISON_DEPTH_MODEL",
    "pose_model": "UNISON_POSE_MODEL",
    "person_model": "UNISON_PERSON_MODEL",
    "grounding_model": "UNISON_GROUNDING_MODEL",
    "sam2_model": "UNISON_SAM2_MODEL",
}


def as_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """Check and return frames as (T, H, W, 3) uint8; an image (H, W, 3) becomes one frame."""
    arr = media_frames(frames, name)
    if arr.shape[1] < 2 or arr.shape[2] < 2:
        raise MediaError(f"{name}: frames of {arr.shape[2]}x{arr.shape[1]} pixels are too small to annotate")
    return arr


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """(..., H, W) uint8 -> (..., H, W, 3) uint8."""
    return np.repeat(np.asarray(gray, dtype=np.uint8)[..., None], 3, axis=-1)


def checkpoint_dir(settings: Settings, name: str) -> Path:
    """The local directory of checkpoint setting ``name``; a WeightsError saying what to do if it is missing."""
    path = settings.checkpoint(name)
    if not (path / "config.json").is_file():
        hint = _SETTING_HINT.get(name, f"UNISON_{name.upper()}")
        raise WeightsError(
            f"{name}: no model at {path} (config.json missing). Download {getattr(settings, name)!r} into "
            f"{settings.models_dir} (`unison download`), or point {hint} / --{name.replace('_', '-')} at a local "
            "checkpoint directory"
        )
    return path


def device_for(settings: Settings) -> torch.device:
    """The device annotators run on (the settings' device choice)."""
    return pick_device(settings)


MODEL_NAMES = {
    "depth": "Depth-Anything-V2",
    "pose": "ViTPose",
    "person-detector": "RT-DETR (person boxes)",
    "grounding-dino": "Grounding DINO",
    "sam2-image": "SAM 2 (image)",
    "sam2-video": "SAM 2 (video)",
}
"""What a ``loading`` progress stage calls each annotator model."""


def load_cached(kind: str, settings: Settings, setting: str, factory: Callable[[Path, Any], T]) -> T:
    """Load ``factory(checkpoint_dir, device)`` once per process through the shared model registry."""
    path = checkpoint_dir(settings, setting)
    device = device_for(settings)
    key = ("annotator", kind, str(path), str(device))

    def build() -> T:
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the SAM 2 video checkpoint warns when loaded as the image model
        quiet_library_bars("transformers", "huggingface_hub")  # progress goes out as events instead
        try:
            return factory(path, device)
        except (OSError, ValueError, KeyError) as exc:
            raise WeightsError(f"{setting}: could not load {kind} from {path}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)

    return registry().get(key, build, label=MODEL_NAMES.get(kind, f"{kind} model"))


def batches(n: int, size: int) -> list[slice]:
    """Slices covering range(n) in chunks of ``size``."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
