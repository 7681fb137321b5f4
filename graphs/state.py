"""The agent's state: serialisable values only (strings, numbers, lists, dicts), so SQLite can checkpoint it.

Each field is replaced whole by the node that changes it (no reducers), which keeps undo and resumption simple.
"""

from __future__ import annotations

from typing import Any, TypedDict


class InputState(TypedDict, total=False):
    """What a caller sends for one turn."""

    request: str
    """The user's text for this turn, with ``###path###``/``@path`` mentions and references ("it", "#3")."""
    overrides: dict[str, Any]
    """Per-turn overrides: plan fields (width, height, num_frames, fps, ...) and generation values (seed, steps,
    guidance, shift)."""
    confirm: bool
    """Ask for confirmation (a LangGraph interrupt) before each generation of this turn."""


class AgentState(InputState, total=False):
    """The whole state of a conversation thread."""

    turn: int
    """Number of the current turn (1-based); every message, media item and result carries it."""
    messages: list[dict[str, Any]]
    """The conversation: {"role": "user"|"assistant", "content": str, "media": [paths], "turn": int}."""
    media: list[dict[str, Any]]
    """The media registry (see unison_agent.media_store): {"id", "path", "kind", "origin", "turn", "task", "note"}."""
    steps: list[str]
    """This turn's steps (a compound request is split into several)."""
    step_index: int
    """Index of the step being planned or run."""
    plan: dict[str, Any] | None
    """The current step's plan (the plan contract's JSON), or None between steps."""
    annotation: dict[str, Any] | None
    """The current step's annotator job: {"kind", "input", "target", "purpose": "answer"|"control"|"mask"}."""
    results: list[dict[str, Any]]
    """This turn's results, one per finished step: {"step", "request", "task", "answer", "outputs", "plan",
    "notes", "seed", "timings", "status": "ok"|"cancelled"}."""
    errors: list[dict[str, Any]]
    """This turn's errors: {"step", "request", "error", "type"}; a failing step stops the turn, earlier results stay."""
    history: list[dict[str, Any]]
    """All finished turns' results (for /history and undo): {"turn", "request", "results", "errors"}."""
    prepared: list[str]
    """Annotator maps made for the current step (a control video made from a plain video), shown with its result."""
    notice: str | None
    """A message for the person confirming a plan (e.g. why a change was refused)."""
    done: bool
    """True once the turn has finished (all steps run, cancelled, or stopped by an error)."""
