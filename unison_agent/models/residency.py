"""Which model sits on the accelerator: one place decides, under a memory budget.

Stage one (the Qwen2.5-VL planner, ~7.5 GB in bf16), the umT5-XXL text encoder (~11 GB), the VACE transformer and
the VAE (and the annotators) do not fit a 24 GB GPU together. Each step of a request needs only some of them: the
planner to plan and to make the projector's input, the text encoder to encode the prompt, the transformer and the
VAE to denoise and decode. :class:`Residency` keeps the models a step asks for on the device and moves the ones it
does not need back to the CPU — least recently used first, and only as many as the budget requires (moving costs
time, so a model that fits stays).

    residency = Residency(device, budget_bytes)      # or Residency.from_settings(settings)
    residency.add("planner", planner.model)
    residency.add("text_encoder", pipe.text_encoder)
    with residency.use("text_encoder"):              # on the device now; others moved out if the budget says so
        embeds = encode(...)

Moves go through ``mover(module, device)`` (``module.to(device)`` by default), so the decisions are testable on a
CPU with a fake mover and a fake budget: :meth:`where` tells where each model is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import UnisonError

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

Mover = Callable[[Any, str], None]
GB = 1024**3


def module_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (0 for things without them)."""
    total = 0
    for attr in ("parameters", "buffers"):
        items = getattr(module, attr, None)
        if items is None:
            continue
        for t in items():
            total += t.numel() * t.element_size()
    return total


def _to(module: Any, device: str) -> None:
    module.to(device)


class Residency:
    """Keeps the models in use on ``device`` within ``budget_bytes`` (None: no limit), the rest on ``offload_to``."""

    def __init__(
        self,
        device: str,
        budget_bytes: int | None = None,
        *,
        offload_to: str = "cpu",
        mover: Mover = _to,
        size_of: Callable[[Any], int] = module_bytes,
    ) -> None:
        self.device = str(device)
        self.budget = budget_bytes
        self.offload_to = offload_to
        self._mover = mover
        self._size_of = size_of
        self._models: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        self._where: dict[str, str] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()  # resident models, least recently used first
        self._pinned: dict[str, int] = {}
        self._lock = threading.RLock()
        self.moves: list[tuple[str, str]] = []
        """Every move made, in order: (name, destination)."""

    @classmethod
    def from_settings(cls, settings: Settings, device: Any) -> Residency:
        """The budget is ``settings.vram_budget`` GB, or the device's free memory when unset (no limit on a CPU)."""
        budget = getattr(settings, "vram_budget", None)
        dev = str(device)
        if budget is not None:
            return cls(dev, int(float(budget) * GB))
        if dev.startswith("cuda"):
            import torch

            free, _total = torch.cuda.mem_get_info(torch.device(dev))
            return cls(dev, int(free))
        return cls(dev, None)

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def add(self, name: str, module: Any, *, where: str | None = None) -> None:
        """Register a model (it stays where it is until used; ``where`` says where that is, default the CPU)."""
        with self._lock:
            self._models[name] = module
            self._sizes[name] = int(self._size_of(module))
            self._where[name] = where or self.offload_to
            if self._where[name] == self.device:
                self._recent[name] = None

    def knows(self, name: str) -> bool:
        return name in self._models

    def where(self) -> dict[str, str]:
        """Model name -> the device it is on now."""
        return dict(self._where)

    def resident_bytes(self) -> int:
        return sum(self._sizes[n] for n, d in self._where.items() if d == self.device)

    # -- decisions -----------------------------------------------------------------------------------------
    @contextmanager
    def use(self, *names: str) -> Iterator[None]:
        """Bring ``names`` onto the device for the block (evicting idle models if the budget needs room)."""
        with self._lock:
            self.acquire(*names)
            for n in names:
                self._pinned[n] = self._pinned.get(n, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                for n in names:
                    self._pinned[n] -= 1
                    if not self._pinned[n]:
                        del self._pinned[n]

    def acquire(self, *names: str) -> None:
        """Move ``names`` to the device, making room under the budget first."""
        unknown = [n for n in names if n not in self._models]
        if unknown:
            raise KeyError(f"not registered with the residency manager: {', '.join(unknown)}")
        need = sum(self._sizes[n] for n in names if self._where[n] != self.device)
        if self.budget is not None:
            wanted = sum(self._sizes[n] for n in names)
            if wanted > self.budget:
                raise UnisonError(
                    f"{', '.join(names)} need {wanted / GB:.1f} GB together, more than the {self.budget / GB:.1f} GB "
                    "memory budget; use --offload model or --offload sequential, or a smaller size / fewer frames"
                )
            for victim in list(self._recent):
                if self.resident_bytes() + need <= self.budget:
                    break
                if victim in names or victim in self._pinned:
                    continue
                self._move(victim, self.offload_to)
        for n in names:
            if self._where[n] != self.device:
                self._move(n, self.device)
            self._recent.pop(n, None)
            self._recent[n] = None  # most recently used last

    def release(self, *names: str) -> None:
        """Send models back to the offload device now (e.g. the text encoder once the prompt is encoded)."""
        with self._lock:
            for n in names:
                if self._where.get(n) == self.device and n not in self._pinned:
                    self._move(n, self.offload_to)

    def _move(self, name: str, device: str) -> None:
        self._mover(self._models[name], device)
        self._where[name] = device
        self.moves.append((name, device))
        if device == self.device:
            self._recent[name] = None
        else:
            self._recent.pop(name, None)


def residency_for(settings: Settings, device: Any) -> Residency | None:
    """The process's residency manager for ``device`` (one per device and budget), or None where nothing is
    to be moved: a CPU device, or an offload mode (those move weights themselves)."""
    if getattr(device, "type", str(device)) != "cuda" or settings.offload != "none":
        return None
    from unison_agent.models.registry import registry

    key = ("residency", str(device), settings.vram_budget)
    return registry().get(key, lambda: Residency.from_settings(settings, device))


@contextmanager
def resident(residency: Residency | None, *names: str) -> Iterator[None]:
    """``residency.use(names)`` for the names it knows; nothing without a manager."""
    known = [n for n in names if residency is not None and residency.knows(n)]
    if not known:
        yield
        return
    with residency.use(*known):  # type: ignore[union-attr]
        yield
