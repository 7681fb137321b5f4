"""Device, dtype and attention choice, and the process-wide cache every model loader goes through.

The loaders live beside what they load (``qwen_loader``, ``vace_loader``, ``projector``, the annotators in
``tools/``); each calls ``registry().get(key, factory, label=...)`` here, so that a model is loaded once per process
whatever asks for it (planner, understanding, projector, VACE, annotators); a labelled load is reported as a
``loading`` progress stage (:mod:`unison_agent.core.progress`). Nothing here imports torch at
module import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from unison_agent.contract.errors import SettingsError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

T = TypeVar("T")


class ModelRegistry:
    """Loaded models keyed by whatever identifies them (kind, path, device, dtype)."""

    def __init__(self) -> None:
        self._models: dict[Hashable, Any] = {}
        self._lock = threading.RLock()
        self.loads: list[Hashable] = []  # every key ever loaded, in order (tests check nothing loads twice)

    def get(self, key: Hashable, factory: Callable[[], T], *, label: str | None = None) -> T:
        """The model under ``key``, built by ``factory`` the first time. A ``label`` ("Wan2.1-VACE (transformer,
        VAE, umT5)") makes a real load a ``loading`` progress stage; a cached model reports nothing."""
        with self._lock:
            if key not in self._models:
                if label is not None:
                    from unison_agent.core.progress import stage

                    stage("loading", f"loading {label}", model=label)
                self._models[key] = factory()
                self.loads.append(key)
            return self._models[key]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._models

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.loads.clear()


_REGISTRY = ModelRegistry()


def registry() -> ModelRegistry:
    """The process-wide registry."""
    return _REGISTRY


def pick_device(settings: Settings) -> torch.device:
    """``settings.device`` or, for ``auto``, CUDA when available, else MPS, else CPU."""
    import torch

    wanted = settings.device
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError:
        raise SettingsError(f"device {wanted!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {wanted!r} was asked for but CUDA is not available; use --device cpu")
    return device


def pick_dtype(settings: Settings, device: torch.device) -> torch.dtype:
    """``settings.dtype`` or, for ``auto``: bfloat16 on CUDA (float16 where bf16 is unsupported), float32 elsewhere."""
    import torch

    if settings.dtype != "auto":
        return getattr(torch, settings.dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def pick_attention(settings: Settings, device: torch.device) -> str:
    """flash_attention_2 when installed and on CUDA, else sdpa (unless the settings say otherwise)."""
    if settings.attn != "auto":
        return settings.attn
    if device.type == "cuda":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is not None:
            return "flash_attention_2"
    return "sdpa"
