"""The agent's state: serialisable values only, so SQLite can checkpoint it — strings, numbers, lists, dicts, and
typed values: the current :class:`~unison_agent.contract.plan.Plan`, each finished step's :class:`StepResult` and
each plan review's :class:`~unison_agent.core.reviews.PlanReview` (``reviews``).

LangGraph's serializer stores a pydantic model or a dataclass with its class name and rebuilds it on load (a plan
is validated again there, as anything read from disk is); :data:`STATE_TYPES` are the classes it may rebuild.
A thread written before the state held typed values has a dict in their place: :func:`plan_of` and
:meth:`StepResult.of` read both shapes.

Lists that only grow (messages, media, results, errors, history) have an appending reducer: a node returns just
the new items. :func:`reset_turn` (a new turn) and ``Session.undo`` replace them whole with ``Overwrite``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from langgraph.types import Overwrite

from unison_agent.contract.plan import Plan
from unison_agent.core.reviews import PlanReview

STATE_TYPES: tuple[tuple[str, str], ...] = (
    ("unison_agent.contract.plan", "Plan"),
    ("unison_agent.contract.plan", "Task"),
    ("unison_agent.graphs.state", "StepResult"),
    ("unison_agent.core.reviews", "PlanReview"),
    ("unison_agent.models.pipeline", "GenerationResult"),
)
"""(module, class) of the typed values in the state, for the checkpointer's serializer (its allow-list)."""


class Message(TypedDict):
    """One message of the conversation."""

    role: Literal["user", "assistant"]
    content: str
    media: list[str]
    """Absolute paths of the files the message mentioned or produced."""
    turn: int


class MediaItem(TypedDict, total=False):
    """One file of the conversation (see :mod:`unison_agent.media.store`)."""

    id: int
    path: str
    kind: Literal["image", "video"]
    origin: Literal["input", "output", "annotation"]
    turn: int
    task: str | None
    note: str | None


@dataclass(frozen=True)
class StepResult(Mapping[str, Any]):
    """One finished step of a turn: the one value from the node that finished the step to ``TurnResult``.

    Read it by attribute. ``result["answer"]``, ``result.get("plan")`` read its JSON (:meth:`to_json`, the shape
    ``run --json`` prints), for code written when results were dicts."""

    step: int
    request: str
    """The step's text as resolved (every file an absolute ``###path###``)."""
    task: str
    """One of the twelve task names, or ``annotate:<kind>`` for an annotator-only request."""
    answer: str
    outputs: list[str] = field(default_factory=list)
    plan: Plan | None = None
    """The plan that ran; None for an annotator-only request."""
    notes: list[str] = field(default_factory=list)
    status: Literal["ok", "cancelled"] = "ok"
    sidecars: list[str] | None = None
    """The outputs' JSON sidecars (generations)."""
    seed: int | None = None
    """The seed a generation used."""
    prepared: list[str] | None = None
    """Annotator maps made for this step (a control map, an edit mask), shown with its result (generations)."""
    timings: dict[str, float] | None = None
    files: list[dict[str, Any]] | None = None
    """Every file the step made with its media id: ``{"id", "path", "kind", "role"}``, role "mask" / "control"
    for an annotator map, "output" for an output; in id order (a later turn reaches any of them as "#id")."""

    _OPTIONAL = ("sidecars", "seed", "prepared", "timings", "files")

    def to_json(self) -> dict[str, Any]:
        """The result as JSON: the plan as the plan contract; optional fields only when the step has them."""
        data: dict[str, Any] = {
            "step": self.step,
            "request": self.request,
            "task": self.task,
            "answer": self.answer,
            "outputs": list(self.outputs),
            "plan": self.plan.to_json() if self.plan else None,
            "notes": list(self.notes),
            "status": self.status,
        }
        for name in self._OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def of(cls, value: StepResult | Mapping[str, Any]) -> StepResult:
        """A result as stored: this type, or the dict a thread written by an earlier version holds."""
        if isinstance(value, StepResult):
            return value
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        data = {k: v for k, v in value.items() if k in known}
        data["plan"] = plan_of(data)
        return cls(**data)

    # the read-only JSON view
    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


def plan_of(values: Mapping[str, Any]) -> Plan | None:
    """``values["plan"]`` as a :class:`Plan`: the typed value, or the contract JSON an older thread holds."""
    plan = values.get("plan")
    if plan is None or isinstance(plan, Plan):
        return plan
    return Plan.from_json(plan)


def plan_json(plan: Plan | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A plan (typed or already JSON) as the contract's JSON, for errors, interrupts and faces."""
    if plan is None:
        return None
    return plan.to_json() if isinstance(plan, Plan) else dict(plan)


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
    """Per-turn overrides: plan fields (``unison_agent.contract.plan.PLAN_FIELDS``) and sampler values
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
    plan: Plan | None
    """The current step's plan, or None (a dict in a thread written by an earlier version: :func:`plan_of`)."""
    jobs: list[dict[str, Any]]
    """Annotator runs still to do for the current step (``unison_agent.core.prepare.Job`` as JSON)."""
    prepared: dict[str, str]
    """Role -> path of the maps the annotate node made for the current step ("control", "mask")."""
    step_notes: list[str]
    """Notes gathered while preparing the current step (fitting, annotators), shown with its result."""
    attempts: list[dict[str, Any]]
    """This step's generations so far when outputs are checked (``verify_attempts``): {"made": the tool's
    ``GenerationResult``, and once checked "score", "checks", "summary"}."""
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
    review: PlanReview | None
    """The current step's open plan review (its first plan, kept across the reviewer's changes), or None."""
    reviews: Annotated[list[PlanReview], operator.add]
    """Every decided plan review of the thread (:mod:`unison_agent.core.reviews`); undo keeps them."""
    done: bool
    """True once the turn has finished (all steps run, cancelled, or stopped by an error)."""


def clear_step() -> dict[str, Any]:
    """The per-step fields, empty (between steps)."""
    return {
        "step_text": None,
        "plan": None,
        "jobs": [],
        "prepared": {},
        "step_notes": [],
        "notice": None,
        "decision": None,
        "review": None,
        "attempts": [],
        "checks": [],
        "retry": {},
    }


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
