"""Training data for the planner: the planning-evaluation case format, read into (planning prompt, target text).

One JSON object per line, as in ``evals/plan_cases.jsonl``::

    {"id": "...", "prompt": "animate {photo} as the first frame", "expect": {"task": "image_to_video", ...}}

``{name}`` in a prompt stands for one of the synthetic media files of :data:`unison_agent.core.evaluation.MEDIA`; a
real file is mentioned as ``###path###`` or ``@path`` (relative paths are read from the data file's folder).
The target is the token plan :func:`unison_agent.contract.protocol.encode` writes for the expected plan (the expected
fields over the method's defaults, one role per mentioned file); an understanding case has no plan, so it needs
an ``"answer"`` (the text the planner should reply with). Every bad line is an error naming it: nothing is
trained on while a line is silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unison_agent.contract.errors import UnisonError
from unison_agent.contract.plan import UNDERSTANDING_TASKS, Task

EXPECT_FIELDS = ("task", "roles", "width", "height", "num_frames", "fps", "frame_anchor", "control", "target")


class DataError(UnisonError):
    """A training file with a bad line (the message names the file and the line)."""


@dataclass(frozen=True)
class Example:
    """One training example: where it came from, what the planner sees and what it should answer."""

    line: int
    id: str
    text: str
    """The request as typed (placeholders filled in with ``###path###`` mentions)."""
    prompt: str
    """The planner's view of it (mentions as ``<IMGPAD>``/``<VIDPAD>``), the user message it is trained on."""
    target: str
    """The token plan (or the answer) the planner is taught to write."""
    case: dict[str, Any]
    """The case as read (for ``eval plans`` on the validation split)."""


def read_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-empty line; a line that is no JSON object is an error naming it."""
    if not path.is_file():
        raise DataError(f"{path}: no such training file")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: expected a JSON object per line, got {type(obj).__name__}")
        out.append((n, obj))
    if not out:
        raise DataError(f"{path}: no cases (one JSON object per line)")
    return out


def load_examples(path: str | Path, media: dict[str, Path]) -> list[Example]:
    """Every line of ``path`` as an :class:`Example`; the first bad line raises DataError naming it."""
    path = Path(path)
    return [
        example_from_case(case, media, where=f"{path}:{n}", line=n, base_dir=path.parent)
        for n, case in read_lines(path)
    ]


def example_from_case(
    case: dict[str, Any], media: dict[str, Path], *, where: str, line: int = 0, base_dir: Path | None = None
) -> Example:
    """One case -> an Example (``where`` prefixes every error: 'file:line')."""
    from unison_agent.planners.base import Request

    prompt, expect = case.get("prompt"), case.get("expect")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(f'{where}: a case needs a "prompt" (the request as a person would type it)')
    if not isinstance(expect, dict) or "task" not in expect:
        raise DataError(f'{where}: a case needs "expect": {{"task": ...}} (the plan it should get)')
    unknown = sorted(set(expect) - set(EXPECT_FIELDS))
    if unknown:
        raise DataError(f"{where}: unknown expected field(s) {', '.join(unknown)}; known: {', '.join(EXPECT_FIELDS)}")
    try:
        task = Task(expect["task"])
    except ValueError:
        raise DataError(
            f"{where}: unknown task {expect['task']!r}; known: {', '.join(t.value for t in Task)}"
        ) from None
    text = fill_placeholders(prompt, media, where)
    try:
        request = Request.parse(text, check=True, base_dir=base_dir)
    except UnisonError as exc:
        raise DataError(f"{where}: {exc}") from None
    target = _target(case, task, request, where)
    return Example(
        line=line,
        id=str(case.get("id") or f"line-{line}"),
        text=text,
        prompt=request.prompt,
        target=target,
        case={**case, "id": str(case.get("id") or f"line-{line}")},
    )


def fill_placeholders(prompt: str, media: dict[str, Path], where: str) -> str:
    """``{name}`` -> ``###path###`` for the synthetic media; an unknown name is an error."""
    try:
        return prompt.format(**{k: f"###{p}###" for k, p in media.items()})
    except (KeyError, IndexError) as exc:
        raise DataError(
            f"{where}: the prompt names media {exc} that is not one of {', '.join(sorted(media))}; "
            "mention a real file as ###path### instead"
        ) from None
    except ValueError as exc:
        raise DataError(f"{where}: the prompt's braces do not read as media placeholders ({exc})") from None


def expected_plan(expect: dict[str, Any], task: Task, request, where: str):
    """The plan the case expects: its fields over the method's defaults, its roles (or the contract's choice)."""
    from unison_agent.contract.errors import PlanError
    from unison_agent.contract.plan import InputRef, Plan, generation_defaults
    from unison_agent.planners.overrides import repair_roles

    kinds = [m.kind for m in request.mentions]
    roles = expect.get("roles")
    if roles is None:
        roles = repair_roles(task, kinds, [])
    if not isinstance(roles, list) or len(roles) != len(kinds):
        raise DataError(
            f"{where}: the case lists {len(roles) if isinstance(roles, list) else roles!r} role(s) for "
            f"{len(kinds)} mentioned file(s); give one role per file, in mention order"
        )
    fields: dict[str, Any] = generation_defaults(task)
    if task is Task.image_to_video:
        fields["frame_anchor"] = "first"
    if task in (Task.image_control, Task.video_control):
        fields["control"] = "ready"
    fields.update(
        {k: expect[k] for k in ("width", "height", "num_frames", "fps", "frame_anchor", "control") if k in expect}
    )
    inputs = [InputRef(path=m.path, kind=m.kind, role=r) for m, r in zip(request.mentions, roles, strict=True)]
    try:
        return Plan(task=task, prompt=request.prompt, inputs=inputs, **fields)
    except (PlanError, ValueError) as exc:
        raise DataError(f"{where}: the plan contract refuses the expected plan: {exc}") from None


def _target(case: dict[str, Any], task: Task, request, where: str) -> str:
    from unison_agent.contract.protocol import encode, is_token_plan

    if task in UNDERSTANDING_TASKS:
        answer = case.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise DataError(
                f'{where}: no target: an understanding case ({task.value}) needs an "answer" (the text the planner '
                "should reply with)"
            )
        if is_token_plan(answer):
            raise DataError(f"{where}: the answer contains Unison control tokens; an answer is plain text")
        expected_plan(case["expect"], task, request, where)  # the roles must still fit the contract
        return answer.strip()
    return encode(expected_plan(case["expect"], task, request, where))


def split(examples: list[Example], val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A deterministic train/validation split (``val_fraction`` of the examples, at least one when > 0)."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = 0 if val_fraction == 0 else max(1, round(len(examples) * val_fraction))
    if n_val >= len(examples):
        raise DataError(f"{len(examples)} case(s) leave nothing to train on with --val-fraction {val_fraction}")
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [examples[i] for i in train], [examples[i] for i in val]


def fingerprint(examples: list[Example]) -> str:
    """A hash of the training pairs (a resumed run must train on the same data)."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.prompt, e.target]).encode())
    return h.hexdigest()[:16]
