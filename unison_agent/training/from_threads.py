"""Training examples from plan reviews: every plan a person changed at review, with the accepted plan as the target.

The records are the threads' own (:mod:`unison_agent.core.reviews`). An example is what the planner saw (the step's
text with its files by path, the planning prompt) and the token plan :func:`unison_agent.contract.protocol.encode`
writes for the accepted plan. A changed review that cannot teach the token planner anything is named with its
reason, never dropped silently: a change only in fields the token plan does not carry (the prompt, fps, the control
kind, the edit target), a plan the protocol cannot write. A review whose files are gone is an error naming its
thread, turn and step, unless ``skip_missing`` (``--skip-missing``) leaves it out, named as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unison_agent.contract.errors import PlanError, UnisonError
from unison_agent.core.reviews import HOW_TO_REVIEW, ThreadReview, read_reviews
from unison_agent.training.data import DataError, Example

EXPECTED = ("task", "roles", "width", "height", "num_frames", "frame_anchor")
"""The accepted plan's fields the token plan carries: what the validation split checks."""


@dataclass
class ThreadExamples:
    """What the threads gave: the examples, how many reviews there were, and each changed review left out."""

    examples: list[Example] = field(default_factory=list)
    reviewed: int = 0
    changed: int = 0
    left_out: list[str] = field(default_factory=list)
    """'thread 'x' turn 2 step 1: why' for each changed review that is not an example."""


def thread_examples(db: str | Path, thread: str | None = None, *, skip_missing: bool = False) -> ThreadExamples:
    """Every changed review in ``db`` (one thread or all) as an :class:`Example`; see the module's docstring."""
    where = f"{db}" + (f" (thread {thread!r})" if thread else "")
    reviews = read_reviews(db, thread)
    changed = [r for r in reviews if r.review.decision == "changed"]
    out = ThreadExamples(reviewed=len(reviews), changed=len(changed))
    if not changed:
        raise DataError(
            f"no reviewed plans were changed in {where} ({len(reviews)} reviewed); {HOW_TO_REVIEW}, or train on "
            "a DATA.jsonl of cases without --from-threads"
        )
    gone: list[str] = []
    for r in changed:
        missing = _missing_files(r)
        if missing:
            gone.append(f"{r.where}: {', '.join(missing)}")
            continue
        example, why = _example(r)
        if example is None:
            out.left_out.append(f"{r.where}: {why}")
        else:
            out.examples.append(example)
    if gone and not skip_missing:
        raise DataError(
            f"{len(gone)} changed review(s) in {where} name files that are gone: {'; '.join(gone)}; put the files "
            "back, or leave these reviews out with --skip-missing"
        )
    out.left_out += [f"{g} (files gone, --skip-missing)" for g in gone]
    if not out.examples:
        raise DataError(
            f"none of the {len(changed)} changed review(s) in {where} can be trained on: {'; '.join(out.left_out)}"
        )
    return out


def _missing_files(r: ThreadReview) -> list[str]:
    return [str(m["path"]) for m in r.review.media if not Path(m["path"]).is_file()]


def _example(r: ThreadReview) -> tuple[Example | None, str]:
    """(the example, "") or (None, why the review teaches the token planner nothing)."""
    from unison_agent.contract.protocol import encode
    from unison_agent.planners.base import Request

    review, accepted = r.review, r.review.accepted
    assert accepted is not None  # a changed review ran a plan
    try:
        target, first = encode(accepted), encode(review.first)
    except PlanError as exc:
        return None, f"the accepted plan has no token form ({exc})"
    if not target:
        return None, f"the accepted plan answers in text ({accepted.task.value}); no plan to learn"
    if target == first:
        return None, (
            f"changed only {', '.join(review.changed)}, which the token plan does not carry (it reads them from "
            "the words)"
        )
    try:
        request = Request.parse(review.text, check=True)
    except UnisonError as exc:  # a file that no longer reads as it did
        return None, f"its files do not read: {exc}"
    ident = f"{r.thread}/review-{r.index}"
    return Example(
        line=r.index,
        id=ident,
        text=review.text,
        prompt=request.prompt,
        target=target,
        case={"id": ident, "prompt": _braces(review.text), "expect": expected(accepted), "source": r.where},
    ), ""


def expected(plan) -> dict[str, Any]:
    """The ``eval plans`` expectation of an accepted plan (the fields its token plan carries)."""
    data = plan.to_json()
    data["roles"] = [i.role for i in plan.inputs]
    return {k: data[k] for k in EXPECTED if data.get(k) is not None}


def _braces(text: str) -> str:
    """``eval plans`` fills ``{name}`` placeholders with ``str.format``: a path's own braces stay braces."""
    return text.replace("{", "{{").replace("}", "}}")
