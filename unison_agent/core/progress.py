"""Progress events: which stage a turn is in, and counted steps with elapsed and remaining time.

The event contract every face reads (chat, web, MCP, the LangGraph server's ``custom`` stream):

- ``{"event": "stage", "stage": S, "text": LABEL, **extra}`` when a stage begins; S is one of :data:`STAGES`,
  LABEL the words a face shows ("loading Wan2.1-VACE (transformer, VAE, umT5)", "denoising", ...); extra may hold
  ``model`` (loading) or ``annotator`` (annotating).
- ``{"event": "step", "stage": "denoising" | "annotating", "step": i, "total": n, "elapsed_s": float,
  "remaining_s": float | None, **extra}`` for counted progress; ``elapsed_s`` runs from the start of that stage,
  ``remaining_s = elapsed_s / i * (n - i)`` once ``i >= 1``.

Events go to the running LangGraph run's custom stream writer (``get_stream_writer()``), so a graph node, a tool
or the stage-two pipeline reports from where the work happens; outside a run they go nowhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Literal

Stage = Literal["planning", "loading", "annotating", "denoising", "decoding", "writing", "understanding", "checking"]
STAGES: tuple[str, ...] = (
    "planning",
    "loading",
    "annotating",
    "denoising",
    "decoding",
    "writing",
    "understanding",
    "checking",
)

_starts: ContextVar[dict[str, float] | None] = ContextVar("unison_progress_starts", default=None)
_window: ContextVar[tuple[int, int] | None] = ContextVar("unison_progress_window", default=None)


def in_window(i: int, n: int) -> None:
    """From now on (in this context) stages and steps belong to window ``i`` of ``n`` of a long video: labels read
    "window 2/4 · denoising" and events carry ``window``/``windows``. ``in_window(0, 0)`` ends that."""
    _window.set((int(i), int(n)) if n else None)


def _window_extra() -> dict[str, Any]:
    at = _window.get()
    return {} if at is None else {"window": at[0], "windows": at[1]}


def window_label(text: str) -> str:
    """``text`` with the current window in front ("window 2/4 · denoising"), or as it is outside a long video."""
    at = _window.get()
    return text if at is None else f"window {at[0]}/{at[1]} · {text}"


def _ignore(_event: dict[str, Any]) -> None:
    return None


def writer() -> Callable[[dict[str, Any]], None]:
    """The current LangGraph run's custom stream writer; a no-op outside a run (direct use of a tool)."""
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except Exception:  # not inside a run
        return _ignore


def emit(event: dict[str, Any]) -> None:
    writer()(event)


def _start_times() -> dict[str, float]:
    starts = _starts.get()
    if starts is None:
        starts = {}
        _starts.set(starts)
    return starts


def stage(name: Stage, text: str, **extra: Any) -> None:
    """A stage begins: tell the faces, and start its clock (the ``elapsed_s`` of its steps)."""
    if name not in STAGES:
        raise ValueError(f"unknown progress stage {name!r}; one of {', '.join(STAGES)}")
    restart(name)
    emit({"event": "stage", "stage": name, "text": window_label(text), **_window_extra(), **extra})


def restart(name: Stage) -> None:
    """Start ``name``'s clock again without a new stage event (e.g. after a model loaded inside the stage)."""
    _start_times()[name] = time.perf_counter()


def step_event(name: Stage, i: int, total: int, elapsed: float, **extra: Any) -> dict[str, Any]:
    """The ``step`` event for step ``i`` of ``total`` after ``elapsed`` seconds of the stage."""
    remaining = elapsed / i * (total - i) if i >= 1 else None
    return {
        "event": "step",
        "stage": name,
        "step": int(i),
        "total": int(total),
        "elapsed_s": round(elapsed, 3),
        "remaining_s": None if remaining is None else round(max(0.0, remaining), 3),
        **extra,
    }


def step(name: Stage, i: int, total: int, **extra: Any) -> None:
    """Step ``i`` of ``total`` of stage ``name`` is done (timed from the stage's start, or from this first step)."""
    now = time.perf_counter()
    started = _start_times().setdefault(name, now)
    emit(step_event(name, i, total, now - started, **{**_window_extra(), **extra}))


_QUIETED: set[str] = set()


def quiet_library_bars(*libraries: str) -> None:
    """Switch off the tqdm bars of ``diffusers``, ``transformers`` and ``huggingface_hub`` (their own switches), once
    per library: every face shows this package's progress events instead, and stray bars break a live display."""
    for name in libraries:
        if name in _QUIETED:
            continue
        if name == "diffusers":
            from diffusers.utils import logging as diffusers_logging

            diffusers_logging.disable_progress_bar()
        elif name == "transformers":
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        elif name == "huggingface_hub":
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        else:
            raise ValueError(f"no progress-bar switch known for {name!r}")
        _QUIETED.add(name)


__all__ = ["STAGES", "Stage", "emit", "quiet_library_bars", "restart", "stage", "step", "step_event", "writer"]
