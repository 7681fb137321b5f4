"""Plan review records: what a person decided when a plan waited for review, kept in the thread itself.

With ``confirm`` (``chat --confirm``, the web form's review, ``Session(confirm=True)``, a served graph's
``confirm: true``) the graph's ``confirm`` node writes one :class:`PlanReview` per reviewed step into the thread's
state (``reviews``, an appending list checkpointed in ``threads.sqlite`` with the rest of the thread): the request
as the planner saw it, the plan it showed first, the decision and the plan that was accepted. Undo forgets a turn's
messages and media, not its reviews: a correction stays a correction of the planner.

``unison train planner --from-threads`` learns from the changed ones
(:mod:`unison_agent.training.from_threads`); ``unison eval plans --from-threads`` counts how often the first plan
was accepted as it was (:func:`review_figures`). A thread written before reviews were recorded has none.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from unison_agent.contract.errors import UnisonError
from unison_agent.contract.plan import PLAN_FIELDS, Plan

Decision = Literal["accepted", "changed", "cancelled"]
"""accepted: the first plan ran as it was; changed: it ran with plan fields the reviewer changed; cancelled."""

COMPARED = (*PLAN_FIELDS, "roles")
"""What a review compares between the first and the accepted plan ("roles": the files' roles, in order)."""

HOW_TO_REVIEW = (
    "review plans with --confirm (`unison chat --confirm`, `unison run --confirm`, or the web form's plan review) "
    "and change what the planner got wrong before accepting"
)


@dataclass(frozen=True)
class PlanReview:
    """One reviewed step: the planner's request and first plan, the reviewer's decision, the plan that ran."""

    turn: int
    step: int
    """The step's index in its turn (0-based)."""
    text: str
    """The step as the planner got it: the resolved request, every file an absolute ``###path###`` mention."""
    prompt: str
    """The planner's view of it (files as ``<IMGPAD>``/``<VIDPAD>``)."""
    media: list[dict[str, Any]]
    """The files the request mentions, in order: ``{"id", "path", "kind"}`` from the thread's media registry."""
    planner: str
    """The backend that made the first plan ("rules", "qwen", "unison")."""
    first: Plan
    """The plan the reviewer was shown first."""
    decision: Decision | None = None
    """None while the review is open."""
    changed: list[str] = field(default_factory=list)
    """The plan fields (:data:`COMPARED`) the accepted plan has other values in than the first (sorted)."""
    settings_changed: list[str] = field(default_factory=list)
    """Sampler values the reviewer set (seed, steps...): not the planner's business, not counted as a change."""
    accepted: Plan | None = None
    """The plan that ran (None when cancelled)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "step": self.step,
            "text": self.text,
            "prompt": self.prompt,
            "media": [dict(m) for m in self.media],
            "planner": self.planner,
            "first": self.first.to_json(),
            "decision": self.decision,
            "changed": list(self.changed),
            "settings_changed": list(self.settings_changed),
            "accepted": self.accepted.to_json() if self.accepted is not None else None,
        }

    @classmethod
    def of(cls, value: PlanReview | Mapping[str, Any]) -> PlanReview:
        """A review as stored: this type, or its JSON (:meth:`to_json`) as a dict."""
        if isinstance(value, PlanReview):
            return value
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        known["first"] = _plan(known.get("first"))
        known["accepted"] = _plan(known.get("accepted"))
        return cls(**known)

    def where(self, thread: str) -> str:
        """'thread 'foxes' turn 3 step 1' (1-based step, as people count)."""
        return f"thread {thread!r} turn {self.turn} step {self.step + 1}"


def _plan(value: Plan | Mapping[str, Any] | None) -> Plan | None:
    return value if value is None or isinstance(value, Plan) else Plan.from_json(dict(value))


def open_review(plan: Plan, *, turn: int, step: int, text: str, media: Sequence[Mapping[str, Any]] = ()) -> PlanReview:
    """A review of ``plan`` as it is first shown (the ``confirm`` node keeps it open across changes)."""
    from unison_agent.contract.mentions import find_mentions
    from unison_agent.planners.base import Request

    request = Request(text=text, mentions=find_mentions(text, check=False))
    ids = {m["path"]: m.get("id") for m in media}
    files = [{"id": ids.get(m.path), "path": m.path, "kind": m.kind} for m in request.mentions]
    return PlanReview(
        turn=turn, step=step, text=text, prompt=request.prompt, media=files, planner=plan.planner, first=plan
    )


def with_settings(review: PlanReview, names: Sequence[str]) -> PlanReview:
    """The open review with more sampler values the reviewer set."""
    return replace(review, settings_changed=sorted({*review.settings_changed, *names}))


def close_review(review: PlanReview, plan: Plan, *, cancelled: bool = False) -> PlanReview:
    """The review decided: ``plan`` runs (or, ``cancelled``, was the plan under review when it was cancelled: its
    changes are counted, nothing is accepted)."""
    changed = plan_changes(review.first, plan)
    if cancelled:
        return replace(review, decision="cancelled", changed=changed)
    return replace(review, decision="changed" if changed else "accepted", changed=changed, accepted=plan)


def plan_changes(first: Plan, accepted: Plan) -> list[str]:
    """The fields of :data:`COMPARED` in which ``accepted`` differs from ``first``."""
    a, b = first.to_json(), accepted.to_json()
    a["roles"] = [i.role for i in first.inputs]
    b["roles"] = [i.role for i in accepted.inputs]
    return [k for k in COMPARED if a.get(k) != b.get(k)]


# ----------------------------------------------------------------------------------------------------------
# reading them back


@dataclass(frozen=True)
class ThreadReview:
    """A decided review with the thread it is in and its place in that thread's reviews (1-based)."""

    thread: str
    index: int
    review: PlanReview

    @property
    def where(self) -> str:
        return self.review.where(self.thread)


def read_reviews(db: str | Path, thread: str | None = None) -> list[ThreadReview]:
    """The decided reviews in a threads database (one thread, or all of them, oldest thread first)."""
    from unison_agent.core.session import list_threads, open_checkpointer

    db = Path(db)
    if not db.is_file():
        raise UnisonError(f"no threads database at {db}; {HOW_TO_REVIEW} (or point --home at the right folder)")
    names = list_threads(db)
    if thread is not None:
        if thread not in names:
            known = ", ".join(repr(n) for n in names) or "none"
            raise UnisonError(f"no thread named {thread!r} in {db} (threads: {known})")
        names = [thread]
    saver = open_checkpointer(db)
    try:
        out = []
        for name in names:
            found = saver.get_tuple({"configurable": {"thread_id": name, "checkpoint_ns": ""}})
            values = found.checkpoint.get("channel_values", {}) if found is not None else {}
            decided = [r for r in map(PlanReview.of, values.get("reviews") or []) if r.decision]
            out += [ThreadReview(name, i, r) for i, r in enumerate(decided, 1)]
        return out
    except sqlite3.OperationalError as exc:
        raise UnisonError(f"cannot read the threads database {db}: {exc}") from None
    finally:
        saver.conn.close()


@dataclass(frozen=True)
class ReviewFigures:
    """How often the first plan was accepted as it was, overall, per planner and per field changed."""

    reviewed: int
    decisions: dict[str, int]
    """decision -> count (accepted, changed, cancelled)."""
    fields: dict[str, int]
    """field -> how many reviews changed it (most often first)."""
    planners: dict[str, dict[str, int]]
    """planner -> decision -> count."""

    @property
    def accepted_unchanged(self) -> int:
        return self.decisions.get("accepted", 0)

    def share(self, n: int) -> float:
        return n / self.reviewed if self.reviewed else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "reviewed": self.reviewed,
            "accepted_unchanged": self.accepted_unchanged,
            "changed": self.decisions.get("changed", 0),
            "cancelled": self.decisions.get("cancelled", 0),
            "share_accepted_unchanged": self.share(self.accepted_unchanged),
            "fields": {
                k: {"changed": n, "share_changed": self.share(n), "share_kept": 1 - self.share(n)}
                for k, n in self.fields.items()
            },
            "planners": {p: dict(d) for p, d in self.planners.items()},
        }


def review_figures(reviews: Sequence[ThreadReview]) -> ReviewFigures:
    """Count the decisions (every decided review), the fields changed and the decisions per planner."""
    decisions = Counter(r.review.decision for r in reviews)
    fields = Counter(k for r in reviews for k in r.review.changed)
    planners: dict[str, Counter] = {}
    for r in reviews:
        planners.setdefault(r.review.planner, Counter())[str(r.review.decision)] += 1
    return ReviewFigures(
        reviewed=len(reviews),
        decisions={k: decisions.get(k, 0) for k in ("accepted", "changed", "cancelled")},
        fields=dict(fields.most_common()),
        planners={p: dict(c) for p, c in planners.items()},
    )
