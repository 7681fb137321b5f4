"""Extending a clip: "extend ###clip.mp4### by 3 seconds", "continue it for 5 more seconds", "make the last video
longer", "make it 2 seconds long".

A ``video_extend`` plan is not one of the method's twelve tasks: the planning LoRA never emits it, the rules
recognise the words (:func:`extension_plan`, also called first by the model planners). Its output is the clip's
own frames (resampled to 16 fps once, never regenerated) followed by the new frames; ``num_frames`` is the whole
output and ``extend_by`` the frames added (a multiple of 4, so every window is 4k+1). The clip's last frames are the
first window's kept context (:mod:`unison_agent.models.windows`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.contract.errors import PlanError
from unison_agent.contract.plan import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_VIDEO_FRAMES,
    DEFAULT_WIDTH,
    InputRef,
    Plan,
    Task,
)
from unison_agent.planners.extract import NUMBER, number_value

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.media.files import MediaLimits
    from unison_agent.models.vace_inputs import VaceInputs
    from unison_agent.planners.base import Request

DEFAULT_EXTENSION = DEFAULT_VIDEO_FRAMES - 17
"""Frames added when the words give no amount ("make it longer"): one window after its 17 kept frames (4 s)."""

_UNIT = r"(s|sec|secs|seconds?|frames?|min|mins|minutes?)"
_EXTEND_RE = re.compile(
    r"\b(?:extend|extending|lengthen|prolong|continue|continuing|keep\s+(?:it\s+)?going)\b"
    r"|\bmake\b.{0,60}?\blonger\b",
    re.I,
)
_THE_CLIP = r"(?:it|this|that|(?:the|my)\s+(?:\w+\s+)?(?:video|clip|movie|animation|output|result))"
_TOTAL_RE = re.compile(
    rf"\bmake\s+{_THE_CLIP}?\s*(?:be\s+)?{NUMBER}\s*-?\s*{_UNIT}\s+long\b"
    rf"|\b(?:extend|lengthen|prolong|continue)\b.{{0,40}}?\bto\s+{NUMBER}\s*-?\s*{_UNIT}\b"
    r"(?!\s+(?:more|longer))",
    re.I,
)
_ADD_RE = re.compile(rf"\b{NUMBER}\s*-?\s*(?:more\s+)?{_UNIT}\b", re.I)


@dataclass(frozen=True)
class Extension:
    """What the words ask: ``add`` frames after the clip, or a ``total`` length (frames at 16 fps)."""

    add: int | None = None
    total: int | None = None


def _frames(number: str, unit: str) -> int:
    value = number_value(number)
    unit = unit.lower()
    if unit.startswith("frame"):
        return int(value)
    seconds = value * 60 if unit.startswith("m") else value
    return int(round(seconds * DEFAULT_FPS))


def find_extension(words: str) -> Extension | None:
    """The extension the words ask for, or None when they do not ask to extend a clip."""
    total = _TOTAL_RE.search(words)
    if total is not None:
        number, unit = (total.group(1), total.group(2)) if total.group(1) else (total.group(3), total.group(4))
        return Extension(total=_frames(number, unit) + 1)
    if not _EXTEND_RE.search(words):
        return None
    add = _ADD_RE.search(words)
    return Extension(add=_frames(add.group(1), add.group(2)) if add else DEFAULT_EXTENSION)


def round_up4(n: int) -> int:
    return max(4, int(math.ceil(n / 4)) * 4)


def extension_plan(request: Request, backend: str = "rules") -> Plan | None:
    """A ``video_extend`` plan when the request asks to extend its (one) video, else None."""
    videos = [m for m in request.mentions if m.kind == "video"]
    if len(videos) != 1 or any(m.kind != "video" for m in request.mentions):
        return None
    ext = find_extension(request.words)
    if ext is None:
        return None
    clip = videos[0]
    given = None
    if clip.info is not None and clip.info.frames:
        from unison_agent.models.vace_inputs import output_frames

        given = output_frames(int(clip.info.frames), clip.info.fps, DEFAULT_FPS)
    if ext.add is not None:
        add = round_up4(ext.add)
        total = (given or 1) + add
    else:
        add, total = None, int(ext.total or 0)
        if given is not None:
            add = _added(total, given)
            total = given + add
    fallback = (
        None if backend == "rules" else "extending a clip is recognised by the rules (the planner has no such task)"
    )
    return Plan(
        task=Task.video_extend,
        prompt=request.prompt,
        inputs=[InputRef(path=clip.path, kind="video", role="source")],
        width=DEFAULT_WIDTH,
        height=DEFAULT_HEIGHT,
        num_frames=total,
        fps=DEFAULT_FPS,
        extend_by=add,
        planner=backend,
        fallback=fallback,
    )


def _added(total: int, given: int) -> int:
    if total <= given:
        raise PlanError(
            f"num_frames: the clip is already {given / DEFAULT_FPS:.1f} s long ({given} frames at "
            f"{DEFAULT_FPS} fps), so a {(total - 1) / DEFAULT_FPS:g}-second video adds nothing; ask for a "
            "longer length, or 'extend it by N seconds'"
        )
    return round_up4(total - given)


def fit_extension(plan: Plan, src_n: int, src_fps: float | None) -> tuple[Plan, list[str]]:
    """``plan`` with ``num_frames`` = the clip's frames at the plan's fps + ``extend_by``."""
    from unison_agent.models.vace_inputs import output_frames

    fps = float(plan.fps or DEFAULT_FPS)
    given = output_frames(int(src_n), src_fps, fps)
    add = plan.extend_by if plan.extend_by is not None else _added(int(plan.num_frames or 0), given)
    notes = [
        f"extending the clip's {given} frames ({given / fps:.1f} s at {fps:g} fps) by {add} new frames "
        f"({add / fps:.1f} s)"
    ]
    if (plan.num_frames, plan.extend_by) == (given + add, add):
        return plan, notes
    return plan.with_changes(num_frames=given + add, extend_by=add), notes


def extension_inputs(plan: Plan, frames: Mapping[str, Any], limits: MediaLimits | None, load: Any) -> VaceInputs:
    """The whole output's inputs: the clip's frames (mask 0, kept as they are) then grey frames (mask 255)."""
    from unison_agent.models.vace_inputs import VaceInputs, as_video, cover_resize, fit_size, output_frames

    source, src_fps, _ = load(plan, "source", {}, frames, limits) or (None, None, 0)
    if source is None:
        raise PlanError("video_extend needs the clip to extend (a source video)")
    source = as_video(source, "source")
    fps = float(plan.fps or DEFAULT_FPS)
    given = output_frames(source.shape[0], src_fps, fps)
    idx = np.minimum((np.arange(given) / fps * float(src_fps or fps) + 1e-6).astype(int), source.shape[0] - 1)
    w, h, notes = fit_size(source.shape[2], source.shape[1], int(plan.width), int(plan.height))
    add = plan.extend_by if plan.extend_by is not None else _added(int(plan.num_frames), given)
    clip = cover_resize(source[idx], w, h)
    video = np.concatenate([clip, np.full((add, h, w, 3), 127, np.uint8)])
    mask = np.concatenate([np.zeros((given, h, w), np.uint8), np.full((add, h, w), 255, np.uint8)])
    notes.append(f"the clip's {given} frames at {fps:g} fps come first, unchanged; {add} new frames follow")
    return VaceInputs(w, h, given + add, video=video, mask=mask, notes=notes)


def given_frames(plan: Plan, inputs: VaceInputs) -> int:
    """How many leading frames of ``inputs`` already exist (a clip to extend): 0 for every other task."""
    if plan.task is not Task.video_extend or inputs.mask is None:
        return 0
    marked = inputs.mask.reshape(inputs.mask.shape[0], -1).any(axis=1)
    return int(np.argmax(marked)) if marked.any() else int(inputs.mask.shape[0])


__all__ = [
    "DEFAULT_EXTENSION",
    "Extension",
    "extension_inputs",
    "extension_plan",
    "find_extension",
    "fit_extension",
    "given_frames",
]
