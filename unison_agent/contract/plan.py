"""The plan: the contract between every planner backend and everything that executes a request.

A :class:`Plan` is validated on construction; an invalid one raises :class:`~unison_agent.contract.errors.PlanError`
whose message names the field and the allowed values. ``plan.to_json()`` (an alias of
``plan.model_dump(mode="json")``) gives the contract's JSON object.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from unison_agent.contract.errors import PlanError

# ----------------------------------------------------------------------------------------------------------
# Vocabulary


class Task(str, Enum):
    """The twelve tasks, by canonical name, and ``video_extend`` (continue a clip: recognised by the rules, never
    emitted by the planning LoRA; :data:`PLANNER_TASKS` are the twelve)."""

    text_understanding = "text_understanding"
    image_understanding = "image_understanding"
    video_understanding = "video_understanding"
    text_to_image = "text_to_image"
    image_reference = "image_reference"
    image_control = "image_control"
    image_edit = "image_edit"
    text_to_video = "text_to_video"
    image_to_video = "image_to_video"
    video_reference = "video_reference"
    video_control = "video_control"
    video_edit = "video_edit"
    video_extend = "video_extend"

    @property
    def output(self) -> Literal["text", "image", "video"]:
        return TASK_OUTPUT[self]

    @property
    def is_generation(self) -> bool:
        return TASK_OUTPUT[self] != "text"


TASK_OUTPUT: dict[Task, Literal["text", "image", "video"]] = {
    Task.text_understanding: "text",
    Task.image_understanding: "text",
    Task.video_understanding: "text",
    Task.text_to_image: "image",
    Task.image_reference: "image",
    Task.image_control: "image",
    Task.image_edit: "image",
    Task.text_to_video: "video",
    Task.image_to_video: "video",
    Task.video_reference: "video",
    Task.video_control: "video",
    Task.video_edit: "video",
    Task.video_extend: "video",
}

UNDERSTANDING_TASKS = frozenset(t for t, o in TASK_OUTPUT.items() if o == "text")
IMAGE_TASKS = frozenset(t for t, o in TASK_OUTPUT.items() if o == "image")
VIDEO_TASKS = frozenset(t for t, o in TASK_OUTPUT.items() if o == "video")
CONTROL_TASKS = frozenset({Task.image_control, Task.video_control})
EDIT_TASKS = frozenset({Task.image_edit, Task.video_edit})
REFERENCE_TASKS = frozenset({Task.image_reference, Task.video_reference})
PLANNER_TASKS: tuple[Task, ...] = tuple(t for t in Task if t is not Task.video_extend)
"""The twelve tasks of the method (what a planner model chooses among)."""

MediaKind = Literal["image", "video"]
Role = Literal["source", "mask", "reference", "frame", "control", "context"]
FrameAnchor = Literal["first", "last"]
ControlKind = Literal["pose", "depth", "canny", "gray", "flow", "scribble", "ready"]

ROLES: tuple[str, ...] = ("source", "mask", "reference", "frame", "control", "context")
CONTROL_KINDS: tuple[str, ...] = ("pose", "depth", "canny", "gray", "flow", "scribble", "ready")

# What a person may change for one turn (flags, chain turns, plan review) — the one list of each.
PLAN_FIELDS: tuple[str, ...] = (
    "task",
    "width",
    "height",
    "num_frames",
    "fps",
    "frame_anchor",
    "control",
    "target",
    "prompt",
)
"""Plan fields a turn may override."""
GENERATION_FIELDS: tuple[str, ...] = ("seed", "steps", "guidance", "shift", "context_scale")
"""Sampler values a turn may override (the rest of generation comes from the settings)."""

# Defaults of the method (Wan2.1 / Unison).
DEFAULT_WIDTH = 832
DEFAULT_HEIGHT = 480
DEFAULT_VIDEO_FRAMES = 81
DEFAULT_FPS = 16
# Sane bounds: the 1.3B model is trained at 480p; 720p works; past 2048 px memory explodes.
MIN_SIDE, MAX_SIDE = 64, 2048
MAX_FRAMES = 9601
"""The longest plan: 10 minutes at 16 fps. Requests are held to the ``max_video_seconds`` setting (default 60 s,
961 frames) when they are prepared and run; longer videos are made window by window (:mod:`.windows`)."""

# Which roles each task accepts, and which it needs (role -> (min count, allowed kinds)).
_ALLOWED_ROLES: dict[Task, set[str]] = {
    Task.text_understanding: {"context"},
    Task.image_understanding: {"context"},
    Task.video_understanding: {"context"},
    Task.text_to_image: {"context"},
    Task.text_to_video: {"context"},
    Task.image_to_video: {"frame", "context"},
    Task.image_reference: {"reference", "context"},
    Task.video_reference: {"reference", "context"},
    Task.image_control: {"control", "context"},
    Task.video_control: {"control", "context"},
    Task.image_edit: {"source", "mask", "context"},
    Task.video_edit: {"source", "mask", "context"},
    Task.video_extend: {"source", "context"},
}
_ROLE_KINDS: dict[tuple[Task, str], set[str]] = {
    (Task.image_to_video, "frame"): {"image"},
    (Task.image_reference, "reference"): {"image"},
    (Task.video_reference, "reference"): {"image"},
    (Task.image_control, "control"): {"image"},
    (Task.video_control, "control"): {"video", "image"},
    (Task.image_edit, "source"): {"image"},
    (Task.image_edit, "mask"): {"image"},
    (Task.video_edit, "source"): {"video"},
    (Task.video_edit, "mask"): {"image", "video"},
    (Task.video_extend, "source"): {"video"},
}
# role -> (minimum, maximum) count; None = unbounded
_ROLE_COUNTS: dict[tuple[Task, str], tuple[int, int | None]] = {
    (Task.image_to_video, "frame"): (1, 1),
    (Task.image_reference, "reference"): (1, None),
    (Task.video_reference, "reference"): (1, None),
    (Task.image_control, "control"): (1, 1),
    (Task.video_control, "control"): (1, 1),
    (Task.image_edit, "source"): (1, 1),
    (Task.image_edit, "mask"): (0, 1),
    (Task.video_edit, "source"): (1, 1),
    (Task.video_edit, "mask"): (0, 1),
    (Task.video_extend, "source"): (1, 1),
}


def is_video_frame_count(n: int) -> bool:
    """True when ``n`` has the form 4k+1 (k >= 1), as Wan's VAE needs."""
    return n >= 5 and (n - 1) % 4 == 0


def snap_frames(n: int) -> int:
    """A valid video frame count (4k+1) the way diffusers' Wan pipelines make one: ``n // 4 * 4 + 1`` when n is
    not already 4k+1 (48 -> 49, 50 -> 49, 52 -> 53), held within 5..MAX_FRAMES."""
    n = int(n)
    if n % 4 != 1:
        n = n // 4 * 4 + 1
    return int(min(MAX_FRAMES, max(5, n)))


def snap16(n: float, *, bounded: bool = True) -> int:
    """The project's one rounding rule for sides: down to a multiple of 16, as diffusers' Wan examples do
    (``h // 16 * 16``; 1080 -> 1072, 72 -> 64), then held within [MIN_SIDE, MAX_SIDE] unless ``bounded`` is False."""
    side = 16 * int(math.floor(float(n) / 16))
    return int(min(MAX_SIDE, max(MIN_SIDE, side))) if bounded else side


# ----------------------------------------------------------------------------------------------------------
# Models


class InputRef(BaseModel):
    """One file named in the request, in mention order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    kind: MediaKind
    role: Role


class Plan(BaseModel):
    """A validated plan. Fields beyond the contract's are optional extras; the contract keys are always there."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    task: Task
    prompt: str
    inputs: list[InputRef] = []
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    fps: int | None = None
    frame_anchor: FrameAnchor | None = None
    control: ControlKind | None = None
    # extras
    target: str | None = None
    """For edits: the thing to change ("the bird" -> "bird"), used to find a mask when none is given."""
    answer: str | None = None
    """A plain-text answer the planner already gave (the Unison planner answers understanding requests itself)."""
    planner: str = "rules"
    """Which backend produced the plan."""
    sized_by_planner: bool = False
    """Whether a model planner chose the size itself (``<BORES>``, the width and height of its JSON): then the
    settings' default size does not replace it; the default applies only where no planner chose one."""
    fallback: str | None = None
    """Why the plan came from the rules planner instead of the requested backend, if it did."""
    raw: str | None = None
    """The planner's raw output, kept for inspection."""
    extend_by: int | None = None
    """For ``video_extend``: how many frames to add after the clip (a multiple of 4); None until fitted to the clip
    when the words gave the total length ("make it 2 seconds long"). Then ``num_frames`` is the clip + these."""
    notes: list[str] = []
    """What the planner's values needed (a size snapped to 16, a frame count to 4k+1, an index that named no file)."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise PlanError(_explain(exc)) from None

    # Only the error type changes here: tell pydantic this __init__ is its own, or ``model_validate`` (and a
    # checkpoint read) would run the whole validation twice — once in the core, once through this __init__.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Plan:  # type: ignore[override]
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise PlanError(_explain(exc)) from None

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> Plan:
        """Read a plan from its contract JSON (string or parsed object)."""
        import json

        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise PlanError(f"plan JSON is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise PlanError("plan JSON must be an object with the keys task, prompt, inputs, ...")
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object (task as its name, enums as strings, missing values as null)."""
        return self.model_dump(mode="json")

    def with_changes(self, **changes: Any) -> Plan:
        """A validated copy with some fields changed (``model_copy`` does not validate)."""
        data = self.model_dump()
        data.update(changes)
        return Plan(**data)

    # -- convenience views -------------------------------------------------------------------------------
    @property
    def output(self) -> str:
        return self.task.output

    def inputs_with_role(self, role: str) -> list[InputRef]:
        return [i for i in self.inputs if i.role == role]

    def first(self, role: str) -> InputRef | None:
        found = self.inputs_with_role(role)
        return found[0] if found else None

    # -- validation ----------------------------------------------------------------------------------------
    @model_validator(mode="after")
    def _check(self) -> Plan:
        task = self.task
        if task in UNDERSTANDING_TASKS:
            for name in ("width", "height", "num_frames", "fps", "frame_anchor", "control"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: must be null for the understanding task {task.value}")
            if task is Task.image_understanding and not any(i.kind == "image" for i in self.inputs):
                raise ValueError("inputs: image_understanding needs at least one image")
            if task is Task.video_understanding and not any(i.kind == "video" for i in self.inputs):
                raise ValueError("inputs: video_understanding needs at least one video")
        else:
            for name in ("width", "height"):
                value = getattr(self, name)
                if value is None:
                    raise ValueError(f"{name}: required for the generation task {task.value}")
                if value % 16 or not MIN_SIDE <= value <= MAX_SIDE:
                    raise ValueError(
                        f"{name}: {value} is not allowed; use a multiple of 16 between {MIN_SIDE} and {MAX_SIDE}"
                    )
            if task in IMAGE_TASKS:
                if self.num_frames != 1:
                    raise ValueError(f"num_frames: must be 1 for the image task {task.value}, got {self.num_frames}")
                if self.fps is not None:
                    raise ValueError(f"fps: must be null for the image task {task.value}")
            else:
                n = self.num_frames
                if task is Task.video_extend:
                    if n is None or not 2 <= n <= MAX_FRAMES:
                        raise ValueError(
                            f"num_frames: {n} is not allowed for video_extend; the clip and what is "
                            f"added, 2..{MAX_FRAMES} frames"
                        )
                    if self.extend_by is not None and (self.extend_by < 4 or self.extend_by % 4):
                        raise ValueError(f"extend_by: {self.extend_by} is not allowed; add a multiple of 4 frames")
                elif n is None or not is_video_frame_count(n) or n > MAX_FRAMES:
                    raise ValueError(
                        f"num_frames: {n} is not allowed for {task.value}; use 4k+1 frames between 5 and "
                        f"{MAX_FRAMES} (e.g. {snap_frames(n or DEFAULT_VIDEO_FRAMES)})"
                    )
                if self.fps is None or not 1 <= self.fps <= 60:
                    raise ValueError(f"fps: {self.fps} is not allowed for {task.value}; use 1..60 (the method uses 16)")
            if task is not Task.video_extend and self.extend_by is not None:
                raise ValueError(f"extend_by: must be null for {task.value} (only video_extend has one)")
            if task is Task.image_to_video:
                if self.frame_anchor is None:
                    raise ValueError("frame_anchor: image_to_video needs 'first' or 'last'")
            elif self.frame_anchor is not None:
                raise ValueError(f"frame_anchor: must be null for {task.value} (only image_to_video has one)")
            if task in CONTROL_TASKS:
                if self.control is None:
                    raise ValueError(f"control: {task.value} needs one of {', '.join(CONTROL_KINDS)}")
            elif self.control is not None:
                raise ValueError(f"control: must be null for {task.value} (only *_control tasks have one)")
        self._check_roles()
        return self

    def _check_roles(self) -> None:
        task = self.task
        allowed = _ALLOWED_ROLES[task]
        counts: dict[str, int] = {}
        for i, ref in enumerate(self.inputs):
            if ref.role not in allowed:
                raise ValueError(
                    f"inputs[{i}].role: {ref.role!r} is not allowed for {task.value}; allowed: {', '.join(sorted(allowed))}"
                )
            kinds = _ROLE_KINDS.get((task, ref.role))
            if kinds and ref.kind not in kinds:
                raise ValueError(
                    f"inputs[{i}].kind: a {ref.role} for {task.value} must be {' or '.join(sorted(kinds))}, "
                    f"got {ref.kind} ({ref.path})"
                )
            counts[ref.role] = counts.get(ref.role, 0) + 1
        for (t, role), (lo, hi) in _ROLE_COUNTS.items():
            if t is not task:
                continue
            n = counts.get(role, 0)
            if n < lo:
                raise ValueError(f"inputs: {task.value} needs {'a' if lo == 1 else lo} {role} file, got none")
            if hi is not None and n > hi:
                raise ValueError(f"inputs: {task.value} takes at most {hi} {role} file(s), got {n}")


def _explain(exc: ValidationError) -> str:
    """One readable line per problem: 'field: what is wrong (allowed: ...)'."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = err.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ")
        ctx = err.get("ctx") or {}
        if "expected" in ctx and str(ctx["expected"]) not in msg:
            msg = f"{msg} (allowed: {ctx['expected']})"
        lines.append(f"{loc}: {msg}" if loc and not msg.startswith(f"{loc}:") else msg)
    return "invalid plan: " + "; ".join(lines)


def generation_defaults(task: Task) -> dict[str, Any]:
    """The method's defaults for a task's size/length fields (null for understanding)."""
    if task in UNDERSTANDING_TASKS:
        return {"width": None, "height": None, "num_frames": None, "fps": None}
    if task in IMAGE_TASKS:
        return {"width": DEFAULT_WIDTH, "height": DEFAULT_HEIGHT, "num_frames": 1, "fps": None}
    return {"width": DEFAULT_WIDTH, "height": DEFAULT_HEIGHT, "num_frames": DEFAULT_VIDEO_FRAMES, "fps": DEFAULT_FPS}
