"""MCP progress notifications from a turn's events (``Session(on_event=...)``), when the client asked for them.

A client that sends a progress token with ``tools/call`` receives ``notifications/progress``. The MCP specification
requires the progress value to increase with every notification, so one :class:`ProgressCounter` per call turns the
turn's stages and counted steps into one rising scale:

- a stage beginning (``{"event": "stage", "text": LABEL}``, or ``{"event": "status", "text": ...}``): the value moves
  up by one, no total, message LABEL ("loading Wan2.1-VACE ...", "denoising", "writing outputs");
- a counted step (``{"event": "step", "step": i, "total": n, ["stage"], ["remaining_s"]}``): value = the stage's
  start + i, total = the stage's start + n (so a client's bar fills within each counted stage), message
  "denoising 3/50 (12 s left)" (the stage's name, "denoising" when the event names none).

Answer tokens and node events send nothing. The events come from the worker thread the tool runs in; each
notification is sent on the server's event loop (``anyio.from_thread``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EventFn = Callable[[dict[str, Any]], None]


class ProgressCounter:
    """Maps one call's events to (progress, total, message) on a scale that only rises."""

    def __init__(self) -> None:
        self.value = 0.0  # the last value sent
        self.base = 0.0  # where the current counted stage started

    def __call__(self, event: dict[str, Any]) -> tuple[float, float | None, str] | None:
        """(progress, total, message) for a stage or step event; None for any other event (or one that would not
        move the scale up)."""
        kind = event.get("event")
        if kind in ("stage", "status"):
            self.value += 1
            self.base = self.value
            return self.value, None, str(event.get("text") or event.get("stage") or "")
        if kind == "step" and event.get("total"):
            i, n = float(event["step"]), float(event["total"])
            if self.base + i <= self.value:  # a counted run that restarted without a new stage
                self.base = self.value
            progress, total = self.base + i, self.base + n
            if progress <= self.value:
                return None
            self.value = progress
            left = event.get("remaining_s")
            tail = f" ({left:.0f} s left)" if isinstance(left, int | float) else ""
            where = f"window {event['window']}/{event['windows']} · " if event.get("windows") else ""
            return progress, total, f"{where}{event.get('stage') or 'denoising'} {int(i)}/{int(n)}{tail}"
        return None


def progress_sender(ctx: Any) -> EventFn | None:
    """An ``on_event`` that sends progress notifications through ``ctx`` (a FastMCP Context), or None when the
    client sent no progress token."""
    meta = getattr(ctx.request_context, "meta", None)
    if meta is None or getattr(meta, "progressToken", None) is None:
        return None
    import anyio.from_thread

    counter = ProgressCounter()

    def send(event: dict[str, Any]) -> None:
        found = counter(event)
        if found is None:
            return
        progress, total, message = found
        try:
            anyio.from_thread.run(ctx.report_progress, progress, total, message)
        except Exception:  # a client gone mid-turn must not fail the turn
            pass

    return send
