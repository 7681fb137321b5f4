"""One request path: how a person's words become the plans that run.

- :func:`resolve_step`: bind the previous step's output ("turn it into a video"), references to earlier media
  ("#3", "the last video", "it"), make every mention an absolute path, check the files, register them as media.
- :func:`plan_step`: an annotator-only request ("the depth of ###v.mp4###") becomes an annotation job; anything
  else is planned by the planner backend, then the per-turn overrides, the default size (only where neither the
  person nor a model planner chose one: a LoRA's ``<BORES>`` is kept) and the inputs' own size
  (:func:`~unison_agent.models.vace_inputs.fit_plan`: a source is never upscaled) are applied, and the annotator
  runs the step needs first (a control map from a natural video, an edit mask from the target) are listed.
- :func:`apply_changes` applies plan-field changes (overrides, a reviewer's edits); :func:`parse_decision` reads a
  reviewer's answer (accept / cancel / changes) into those changes.
- :func:`prepare_step` is the two together; :func:`prepare_request` splits a compound request and prepares each
  step, using a placeholder for an earlier step's output (only its kind and size are known before it runs).

The graph's ``resolve`` and ``plan`` nodes call :func:`resolve_step` and :func:`plan_step`; ``unison plan`` calls
:func:`prepare_request`. So the plans ``plan`` prints are the plans ``run`` executes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from unison_agent.contract.errors import UnisonError
from unison_agent.contract.mentions import MENTION_RE, find_mentions, mention_path
from unison_agent.contract.plan import CONTROL_TASKS, EDIT_TASKS, PLAN_FIELDS, Plan
from unison_agent.core.steps import annotation_request, split_steps
from unison_agent.media import store as media_store
from unison_agent.media.control_maps import Verdict, classify_file
from unison_agent.media.files import MediaLimits, check_file, kind_of
from unison_agent.models.vace_inputs import fit_plan
from unison_agent.planners.base import Planner, Request
from unison_agent.planners.extract import control_kind_words

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

Purpose = Literal["answer", "control", "mask"]
Guard = Callable[[str], None]
"""Called with each file path a step will read; raises (a UnisonError) to refuse it."""
Geometry = tuple[int, int, int, "float | None"]
"""(width, height, num_frames, fps) of a file that does not exist yet."""


@dataclass(frozen=True)
class Job:
    """An annotator run: as the step's answer, or to prepare a control map / an edit mask before generating."""

    kind: str
    input: str
    purpose: Purpose
    target: str | None = None

    @property
    def role(self) -> str | None:
        """The plan role the annotator's output stands in for (None for an answer)."""
        return {"control": "control", "mask": "mask"}.get(self.purpose)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "input": self.input, "purpose": self.purpose, "target": self.target}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(kind=data["kind"], input=data["input"], purpose=data["purpose"], target=data.get("target"))


@dataclass
class ResolvedStep:
    """A step's text with every file named by an absolute mention, its parsed request, and the media it added."""

    text: str
    request: Request
    new_media: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PlannedStep:
    """What a step will do: a plan (None for an annotator-only request), the annotator jobs before it, notes."""

    plan: Plan | None
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class PreparedStep:
    """One step of a request, resolved and planned (what ``unison plan --json`` prints, one per step)."""

    index: int
    text: str
    plan: Plan | None
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def output_kind(self) -> str:
        """ "image" / "video" / "text": what the step makes (an annotation has its input's kind)."""
        if self.plan is not None:
            return self.plan.task.output
        return kind_of(self.jobs[0].input)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.index,
            "request": self.text,
            "plan": self.plan.to_json() if self.plan is not None else None,
            "annotations": [j.to_json() for j in self.jobs],
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------------------------
# resolve


def absolute_mentions(text: str, *, keep: Sequence[str] = ()) -> str:
    """Rewrite every mention as ``###/absolute/path###`` (a thread may be resumed from another folder);
    the ``keep`` paths (placeholders) stay as written."""
    out, pos = [], 0
    for m in MENTION_RE.finditer(text):
        path = mention_path(m.group(0))
        out.append(text[pos : m.start()])
        out.append(f"###{path if path in keep else Path(path).expanduser().resolve()}###")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def resolve_step(
    raw: str,
    *,
    media: Sequence[dict[str, Any]] = (),
    previous: Sequence[str] = (),
    turn: int = 1,
    virtual: Sequence[str] = (),
    guard: Guard | None = None,
    limits: MediaLimits | None = None,
) -> ResolvedStep:
    """Bind ``raw`` to the previous step's outputs and the conversation's media; check and register its files.

    ``virtual`` paths are placeholders for outputs that do not exist yet (planning a compound request ahead):
    they are neither opened nor registered. ``guard`` (if given) is called with every file the step names once
    references are bound — mentioned, referenced ("#3", "it") or an earlier output — before any is opened; it
    raises to refuse one (the LangChain tool's ``allowed_dirs``). Files over ``limits`` (the ``limit_*`` settings)
    are refused from their headers, before any is decoded.
    """
    text = raw
    if previous:
        text = media_store.bind_previous(text, previous)
    text = media_store.resolve_references(text, media)
    if guard is not None:  # before symlinks are resolved: a refusal names the file as it was written
        text = _guarded_mentions(text, guard, virtual)
    text = absolute_mentions(text, keep=virtual)
    request = Request.parse(text, virtual=virtual, limits=limits)
    registry = list(media)
    for m in request.mentions:
        if m.path not in virtual:
            registry, _ = media_store.register(registry, m.path, m.kind, origin="input", turn=turn)
    return ResolvedStep(text=text, request=request, new_media=registry[len(media) :])


def _guarded_mentions(text: str, guard: Guard, virtual: Sequence[str]) -> str:
    """Every mention passed through ``guard``; a guard with ``admit`` (a :class:`~unison_agent.core.boundary.Boundary`)
    also swaps each file for the copy it checked, so later stages read the bytes that were checked."""
    admit = getattr(guard, "admit", None)
    out, pos = [], 0
    for m in find_mentions(text, check=False):
        path = m.path
        if path not in virtual:
            if admit is not None:
                path = admit(path)
            else:
                guard(path)
        out.append(text[pos : m.start])
        out.append(f"###{path}###")
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


# ----------------------------------------------------------------------------------------------------------
# plan


def apply_changes(
    plan: Plan,
    changes: Mapping[str, Any],
    geometry: Mapping[str, Geometry] | None = None,
    *,
    whole_clip: int | None = None,
) -> tuple[Plan, list[str]]:
    """``plan`` with plan-field changes (overrides, a reviewer's edits), fitted to its inputs' own size (and,
    with ``whole_clip``, to its source clip's whole length: see :func:`fit_plan`).

    Output settings (size, frames, fps...) given for a whole turn do not apply to an answer: on an understanding
    plan they are left out, with a note, instead of failing the step."""
    values = {k: v for k, v in changes.items() if k in PLAN_FIELDS and v is not None}
    if changes.get("roles") is not None:  # a reviewer's roles for the plan's files, in order
        values["inputs"] = _with_roles(plan, changes["roles"])
    notes: list[str] = []
    if values and not plan.task.is_generation and "task" not in values:
        unused = sorted(k for k in values if k in OUTPUT_FIELDS)
        values = {k: v for k, v in values.items() if k not in OUTPUT_FIELDS}
        if unused:
            notes.append(f"{', '.join(unused)} not used: this step answers in text ({plan.task.value})")
    if values:
        plan = plan.with_changes(**values)
    if not plan.task.is_generation:
        return plan, notes
    plan, more = fit_plan(plan, geometry, whole_clip=whole_clip)
    return plan, notes + more


OUTPUT_FIELDS = ("width", "height", "num_frames", "fps", "frame_anchor", "control", "target")
"""Plan fields that only a generation has."""


def _with_roles(plan: Plan, roles: Any) -> list[dict[str, Any]]:
    """The plan's inputs with new roles (a list, or "source, mask" text), one per file in order."""
    from unison_agent.contract.errors import PlanError

    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    roles = [str(r) for r in roles]
    if len(roles) != len(plan.inputs):
        raise PlanError(
            f"roles: this plan has {len(plan.inputs)} file(s); give one role per file, in order "
            f"(now: {', '.join(i.role for i in plan.inputs) or 'none'}), got {len(roles)}"
        )
    return [{**i.model_dump(), "role": r} for i, r in zip(plan.inputs, roles, strict=True)]


_ACCEPT = {"accept", "yes", "y", "ok", "go", "run", ""}
_CANCEL = {"cancel", "no", "n", "stop", "abort", "quit"}


def parse_decision(decision: Any) -> tuple[str, dict[str, Any]]:
    """accept / cancel / change: from True/False, "accept"/"cancel", {"action": ..., "changes": {...}}, a dict of
    fields, or text like "width=480 num_frames=33"."""
    if decision is True or decision is None:
        return "accept", {}
    if decision is False:
        return "cancel", {}
    if isinstance(decision, dict):
        action = str(decision.get("action", "change")).lower()
        if action in _ACCEPT and "changes" not in decision:
            return "accept", {}
        if action in _CANCEL:
            return "cancel", {}
        changes = decision.get("changes", {k: v for k, v in decision.items() if k != "action"})
        return ("change", dict(changes)) if changes else ("accept", {})
    text = str(decision).strip()
    if text.lower() in _ACCEPT:
        return "accept", {}
    if text.lower() in _CANCEL:
        return "cancel", {}
    changes: dict[str, Any] = {}
    roles = re.search(r"\broles=([\w,/]+)", text)  # "roles=source,mask" (or source/mask): one role per file
    if roles:
        changes["roles"] = re.split(r"[,/]", roles.group(1))
        text = text[: roles.start()] + text[roles.end() :]
    for part in text.replace(",", " ").split():
        if "=" not in part:
            return "change", {"?": part}
        key, value = part.split("=", 1)
        changes[key.strip()] = _coerce(value.strip())
    return "change", changes


def _coerce(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return None if value.lower() in {"none", "null"} else value


def plan_step(
    request: Request,
    *,
    settings: Settings,
    planner: Planner,
    overrides: Mapping[str, Any] | None = None,
    geometry: Mapping[str, Geometry] | None = None,
) -> PlannedStep:
    """Plan one resolved step (see the module's docstring)."""
    job = annotation_request(request.text)
    if job is not None:
        path = mention_path(job.file) if job.file.startswith("###") else job.file
        return PlannedStep(plan=None, jobs=[Job(kind=job.kind, input=path, purpose="answer", target=job.target)])
    plan = planner.plan(request)
    plan, control_notes = settle_control(plan, request, geometry or {}, MediaLimits.from_settings(settings))
    changes = dict(overrides or {})
    if plan.task.is_generation and not plan.sized_by_planner and not _size_given(request, changes):
        if (plan.width, plan.height) != (settings.default_width, settings.default_height):
            changes.update(width=settings.default_width, height=settings.default_height)
    from unison_agent.models.windows import check_length, max_frames

    length_given = changes.get("num_frames") is not None or request.explicit.num_frames is not None
    plan, notes = apply_changes(plan, changes, geometry, whole_clip=None if length_given else max_frames(settings))

    check_length(plan, settings)  # the max_video_seconds setting, after the words, the flags and the clip
    return PlannedStep(plan=plan, jobs=jobs_for(plan), notes=[*plan.notes, *control_notes, *notes])


def settle_control(
    plan: Plan, request: Request, virtual: Mapping[str, Geometry], limits: MediaLimits | None = None
) -> tuple[Plan, list[str]]:
    """A control plan's ``control`` from the input's pixels: a map (pose skeleton, depth, edges, flow, grey) is
    used as given ("ready"); natural media gets the annotator the words ask for, depth when they name none.
    An earlier step's output (``virtual``) is natural media. Names of files never count."""
    ref = plan.first("control")
    if plan.task not in CONTROL_TASKS or ref is None:
        return plan, []
    if ref.path in virtual:
        verdict = Verdict("natural", "made by an earlier step")
    else:
        verdict = classify_file(ref.path, limits)
    asked = control_kind_words(request.words)
    control = "ready" if verdict.is_map else asked or "depth"
    notes = [verdict.note(ref.path)]
    if not verdict.is_map:
        notes.append(f"the control map is made by the {control} annotator")
    return (plan.with_changes(control=control) if control != plan.control else plan), notes


def jobs_for(plan: Plan) -> list[Job]:
    """The annotator runs a generation plan needs first: a control map from a natural input (unless the plan
    says the input already is one), an edit mask from the target when no mask file was given."""
    jobs: list[Job] = []
    control = plan.first("control")
    if control is not None and plan.control not in (None, "ready"):
        jobs.append(Job(kind=str(plan.control), input=control.path, purpose="control"))
    source = plan.first("source")
    if plan.task in EDIT_TASKS and source is not None and plan.first("mask") is None:
        jobs.append(Job(kind="mask", input=source.path, purpose="mask", target=plan.target))
    return jobs


def _size_given(request: Request, changes: Mapping[str, Any]) -> bool:
    """Whether the person chose a size: in the overrides, or in their words (a size, 720p, portrait, 4:3...)."""
    if changes.get("width") is not None or changes.get("height") is not None:
        return True
    return request.explicit.width is not None or request.explicit.height is not None


# ----------------------------------------------------------------------------------------------------------
# both


def prepare_step(
    raw: str,
    *,
    index: int = 0,
    settings: Settings,
    planner: Planner,
    media: Sequence[dict[str, Any]] = (),
    previous: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
    turn: int = 1,
    virtual: Mapping[str, Geometry] | None = None,
    guard: Guard | None = None,
) -> tuple[PreparedStep, ResolvedStep]:
    """Resolve and plan one step; also returns the resolution (its media)."""
    virtual = dict(virtual or {})
    resolved = resolve_step(
        raw,
        media=media,
        previous=previous,
        turn=turn,
        virtual=list(virtual),
        guard=guard,
        limits=MediaLimits.from_settings(settings),
    )
    planned = plan_step(resolved.request, settings=settings, planner=planner, overrides=overrides, geometry=virtual)
    if guard is not None:  # every file the plan and its annotator jobs will open, not only the words' mentions
        inputs = [i.path for i in planned.plan.inputs] if planned.plan is not None else []
        for path in [*inputs, *(j.input for j in planned.jobs)]:
            if path not in virtual:
                guard(path)
    step = PreparedStep(index=index, text=resolved.text, plan=planned.plan, jobs=planned.jobs, notes=planned.notes)
    return step, resolved


def placeholder(index: int, kind: str) -> str:
    """The stand-in path for step ``index``'s output while planning ahead (``<output of step 1>.png``)."""
    return f"<output of step {index + 1}>{'.mp4' if kind == 'video' else '.png'}"


def prepare_request(
    text: str,
    *,
    settings: Settings,
    planner: Planner,
    media: Sequence[dict[str, Any]] = (),
    overrides: Mapping[str, Any] | None = None,
    guard: Guard | None = None,
) -> list[PreparedStep]:
    """Every step of a request, prepared the way the graph prepares it when it runs them.

    A later step that uses an earlier step's output sees a placeholder path (see :func:`placeholder`) with the
    earlier plan's size and length; nothing is written or registered.
    """
    if not text or not text.strip():
        raise UnisonError(EMPTY_REQUEST)
    prepared: list[PreparedStep] = []
    registry = list(media)
    virtual: dict[str, Geometry] = {}
    previous: list[str] = []
    for i, raw in enumerate(split_steps(text)):
        step, resolved = prepare_step(
            raw,
            index=i,
            settings=settings,
            planner=planner,
            media=registry,
            previous=previous,
            overrides=overrides,
            virtual=virtual,
            guard=guard,
        )
        registry += resolved.new_media
        prepared.append(step)
        previous = []
        if step.output_kind != "text":
            path = placeholder(i, step.output_kind)
            virtual[path] = _geometry_of(step, virtual, MediaLimits.from_settings(settings))
            previous = [path]
    return prepared


EMPTY_REQUEST = "empty request: type what you want (attach files with ###path### or @path)"


def _geometry_of(step: PreparedStep, virtual: Mapping[str, Geometry], limits: MediaLimits | None = None) -> Geometry:
    """The size of what a step makes: its plan's, or for an annotation its input's."""
    plan = step.plan
    if plan is not None:
        return int(plan.width), int(plan.height), int(plan.num_frames or 1), plan.fps
    source = step.jobs[0].input
    if source in virtual:
        return virtual[source]
    info = check_file(source, limits)
    return int(info.width), int(info.height), int(info.frames), info.fps
