"""MCP progress notifications from a turn's events (``Session(on_event=...)``), when the client asked for them.

A client that sends a progress token with ``tools/call`` receives ``notifications/progress``:

- a stage beginning (``{"event": "stage", "text": LABEL}``, or today's ``{"event": "status", "text": ...}``):
  progress 0, no total, message LABEL ("loading Wan2.1-VACE ...", "denoising", "writing outputs");
- a counted step (``{"event": "step", "step": i, "total": n, ["stage"], ["remaining_s"]}``): progress i, total n,
  message "denoising 3/50 (12 s left)" (the stage's name, "denoising" when the event names none).

Answer tokens and node events send nothing. The events come from the worker thread the tool runs in; each
notification is sent on the server's event loop (``anyio.from_thread``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EventFn = Callable[[dict[str, Any]], None]


def progress_message(event: dict[str, Any]) -> tuple[float, float | None, str] | None:
    """(progress, total, message) for a stage or step event; None for any other event."""
    kind = event.get("event")
    if kind in ("stage", "status"):
        return 0.0, None, str(event.get("text") or event.get("stage") or "")
    if kind == "step" and event.get("total"):
        i, n = float(event["step"]), float(event["total"])
        left = event.get("remaining_s")
        tail = f" ({left:.0f} s left)" if isinstance(left, int | float) else ""
        return i, n, f"{event.get('stage') or 'denoising'} {int(i)}/{int(n)}{tail}"
    return None


def progress_sender(ctx: Any) -> EventFn | None:
    """An ``on_event`` that sends progress notifications through ``ctx`` (a FastMCP Context), or None when the
    client sent no progress token."""
    meta = getattr(ctx.request_context, "meta", None)
    if meta is None or getattr(meta, "progressToken", None) is None:
        return None
    import anyio.from_thread

    def send(event: dict[str, Any]) -> None:
        found = progress_message(event)
        if found is None:
            return
        progress, total, message = found
        try:
            anyio.from_thread.run(ctx.report_progress, progress, total, message)
        except Exception:  # a client gone mid-turn must not fail the turn
            pass

    return send
