"""The agent's state: serialisable values only (strings, numbers, lists, dicts), so SQLite can checkpoint it.

Lists that only grow (messages, media, results, errors, history) have an appending reducer: a node returns just
the new items. :func:`reset_turn` (a new turn) and ``Session.undo`` replace them whole with ``Overwrite``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.types import Overwrite


class Message(TypedDict):
    """One message of the conversation."""

    role: Literal["user", "assistant"]
    content: str
    media: list[str]
    """Absolute paths of the files the message mentioned or produced."""
    turn: int


class MediaItem(TypedDict, total=False):
    """One file of the conversation (see :mod:`unison_agent.media_store`)."""

    id: int
    path: str
    kind: Literal["image", "video"]
    origin: Literal["input", "output", "annotation"]
    turn: int
    task: str | None
    note: str | None


class StepResult(TypedDict, total=False):
    """One finished step of a turn."""

    step: int
    request: str
    """The step's text as resolved (every file an absolute ``###path###``)."""
    task: str
    """One of the twelve task names, or ``annotate:<kind>`` for an annotator-only request."""
    answer: str
    outputs: list[str]
    sidecars: list[str]
    plan: dict[str, Any] | None
    """The plan that ran (the plan contract's JSON); None for an annotator-only request."""
    seed: int
    notes: list[str]
    prepared: list[str]
    """Annotator maps made for this step (a control map, an edit mask), shown with its result."""
    files: list[dict[str, Any]]
    """Every file the step made with its media id: ``{"id", "path", "kind", "role"}``, role "mask" / "control"
    for an annotator map, "output" for an output; in id order (a later turn reaches any of them as "#id")."""
    timings: dict[str, float]
    status: Literal["ok", "cancelled"]


class StepError(TypedDict, total=False):
    """A failed step: the turn stops there, earlier results stay."""

    step: int
    request: str
    error: str
    type: str
    """The exception's class name (``internal`` errors name the bug's class too)."""
    plan: dict[str, Any] | None
    internal: bool
    """True for a bug (the traceback is in the error log), False for a problem with the input."""


class TurnRecord(TypedDict):
    """A finished turn, for /history and undo."""

    turn: int
    request: str
    results: list[StepResult]
    errors: list[StepError]


class InputState(TypedDict, total=False):
    """What a caller sends for one turn."""

    request: str
    """The user's text for this turn, with ``###path###``/``@path`` mentions and references ("it", "#3")."""
    overrides: dict[str, Any]
    """Per-turn overrides: plan fields (``unison_agent.plan.PLAN_FIELDS``) and sampler values
    (``GENERATION_FIELDS``)."""
    confirm: bool
    """Ask for confirmation (a LangGraph interrupt) before each generation of this turn."""


class AgentState(InputState, total=False):
    """The whole state of a conversation thread."""

    turn: int
    """Number of the current turn (1-based); every message, media item and result carries it."""
    messages: Annotated[list[Message], operator.add]
    media: Annotated[list[MediaItem], operator.add]
    """The media registry: every file of the thread by id."""
    steps: list[str]
    """This turn's steps as typed (a compound request is split into several)."""
    step_index: int
    """Index of the current step."""
    step_text: str | None
    """The current step resolved (files as absolute mentions), or None before the resolve node ran."""
    plan: dict[str, Any] | None
    """The current step's plan (the plan contract's JSON), or None."""
    jobs: list[dict[str, Any]]
    """Annotator runs still to do for the current step (``unison_agent.prepare.Job`` as JSON)."""
    prepared: dict[str, str]
    """Role -> path of the maps the annotate node made for the current step ("control", "mask")."""
    step_notes: list[str]
    """Notes gathered while preparing the current step (fitting, annotators), shown with its result."""
    attempts: list[dict[str, Any]]
    """This step's generations so far when outputs are checked (``verify_attempts``): outputs, seed, score, checks."""
    checks: list[dict[str, Any]]
    """This step's yes/no checks ({"question", "kind"}), written once and asked of every attempt."""
    retry: dict[str, Any]
    """What the next attempt changes (a new seed, a stronger guidance)."""
    results: Annotated[list[StepResult], operator.add]
    errors: Annotated[list[StepError], operator.add]
    history: Annotated[list[TurnRecord], operator.add]
    notice: str | None
    """A message for the person reviewing a plan (e.g. why a change was refused)."""
    decision: Literal["accept", "change", "cancel"] | None
    """The reviewer's last decision (routes the confirm node)."""
    done: bool
    """True once the turn has finished (all steps run, cancelled, or stopped by an error)."""


def clear_step() -> dict[str, Any]:
    """The per-step fields, empty (between steps)."""
    return {"step_text": None, "plan": None, "jobs": [], "prepared": {}, "step_notes": [], "notice": None,
            "decision": None, "attempts": [], "checks": [], "retry": {}}  # fmt: skip


def reset_turn(
    request: str,
    steps: list[str],
    turn: int,
    *,
    results: list[StepResult] | None = None,
    errors: list[StepError] | None = None,
    done: bool = False,
) -> dict[str, Any]:
    """The update that sets the current turn: a new one (intake: empty results) or, for undo, the turn before
    with its results. The per-turn lists are replaced (not appended), the per-step fields cleared."""
    return {
        "request": request,
        "turn": turn,
        "steps": steps,
        "step_index": 0,
        "results": Overwrite(list(results or [])),
        "errors": Overwrite(list(errors or [])),
        "done": done,
        **clear_step(),
    }
