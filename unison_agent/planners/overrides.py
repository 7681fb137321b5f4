"""What model planners share: the user's explicit values win, roles are repaired, bad output falls back.

- :func:`apply_explicit`: values stated in the user's text (size, frame count, first/last frame, control
  kind, edit target, which file is the mask) replace the model's values when they disagree; words that give
  only a shape (an orientation, a ratio) replace a model's size only when it lacks that shape.
- :func:`repair_roles`: make a model's role list fit the task (kinds, counts), so a nearly-right answer
  still gives a valid plan.
- :func:`fallback_plan`: the rules planner's plan, marked with the backend's name and the reason.
"""

from __future__ import annotations

from typing import Any

from unison_agent.contract.errors import PlanError
from unison_agent.contract.plan import (
    _ALLOWED_ROLES,
    _ROLE_COUNTS,
    _ROLE_KINDS,
    CONTROL_TASKS,
    EDIT_TASKS,
    Plan,
    Task,
    snap16,
    snap_frames,
)
from unison_agent.planners.base import Request
from unison_agent.planners.extract import fits_shape


def apply_explicit(plan: Plan, request: Request) -> Plan:
    """``plan`` with the user's explicit values in place of the model's (a valid plan; unchanged if none apply)."""
    ex = request.explicit.as_dict()
    changes: dict[str, Any] = {}
    task = plan.task
    if task.is_generation:
        if ex.get("width") and ex.get("height"):
            w, h = snap16(ex["width"]), snap16(ex["height"])
            # words that give only a shape ("widescreen", "portrait", "4:3") keep a model size that has it
            if (w, h) != (plan.width, plan.height) and not fits_shape(plan.width, plan.height, ex.get("shape"), (w, h)):
                changes.update(width=w, height=h)
        if task.output == "video" and ex.get("num_frames"):
            n = snap_frames(int(ex["num_frames"]))
            if n != plan.num_frames:
                changes["num_frames"] = n
    if task is Task.image_to_video and ex.get("frame_anchor") in ("first", "last"):
        if ex["frame_anchor"] != plan.frame_anchor:
            changes["frame_anchor"] = ex["frame_anchor"]
    if task in CONTROL_TASKS and ex.get("control") and ex["control"] != plan.control:
        changes["control"] = ex["control"]
    if task in EDIT_TASKS:
        if ex.get("target") and ex["target"] != plan.target:
            changes["target"] = ex["target"]
        mask_index = ex.get("mask_index")
        if mask_index is not None and 0 <= mask_index < len(plan.inputs) and plan.inputs[mask_index].role != "mask":
            roles = [i.role for i in plan.inputs]
            roles = ["context" if r == "mask" else r for r in roles]
            was_source = roles[mask_index] == "source"
            roles[mask_index] = "mask"
            if was_source or "source" not in roles:
                kind = "image" if task is Task.image_edit else "video"
                other = next((i for i, ref in enumerate(plan.inputs) if i != mask_index and ref.kind == kind), None)
                if other is not None:
                    roles[other] = "source"
            changes["inputs"] = [ref.model_copy(update={"role": r}) for ref, r in zip(plan.inputs, roles, strict=True)]
    if not changes:
        return plan
    try:
        return plan.with_changes(**changes)
    except PlanError:
        # an explicit value that does not fit the model's task (e.g. a mask that leaves no source): keep the
        # values that do fit, one by one
        for key, value in changes.items():
            try:
                plan = plan.with_changes(**{key: value})
            except PlanError:
                continue
        return plan


def repair_roles(task: Task, kinds: list[str], roles: list[str]) -> list[str]:
    """Roles that fit ``task``: unknown or wrongly-kinded roles become context, surplus ones are dropped,
    missing required ones go to the first suitable file (in mention order)."""
    roles = list(roles) + ["context"] * (len(kinds) - len(roles))
    roles = roles[: len(kinds)]
    allowed = _ALLOWED_ROLES[task]
    for i, r in enumerate(roles):
        want = _ROLE_KINDS.get((task, r))
        if r not in allowed or (want is not None and kinds[i] not in want):
            roles[i] = "context"
    for (t, role), (lo, hi) in _ROLE_COUNTS.items():
        if t is not task:
            continue
        idx = [i for i, r in enumerate(roles) if r == role]
        if hi is not None:
            for i in idx[hi:]:
                roles[i] = "context"
            idx = idx[:hi]
        want = _ROLE_KINDS.get((task, role), {"image", "video"})
        optional = {r for (t2, r), (lo2, _) in _ROLE_COUNTS.items() if t2 is task and lo2 == 0}
        for takeable in ({"context"}, optional):  # free files first, then ones holding an optional role
            for i, k in enumerate(kinds):
                if len(idx) < lo and roles[i] in takeable and k in want:
                    roles[i] = role
                    idx.append(i)
    return roles


def fallback_plan(request: Request, backend: str, reason: str, raw: str | None = None) -> Plan:
    """The rules planner's plan, marked as coming from ``backend`` with ``fallback`` = the reason."""
    from unison_agent.planners.rules import RulesPlanner

    plan = RulesPlanner().plan(request)
    return plan.with_changes(planner=backend, fallback=reason, raw=raw)
