"""The ``qwen`` planner: the base Qwen2.5-VL-Instruct model, prompted from ``prompts/planner_qwen.txt``, with
JSON-schema constrained decoding (xgrammar) so that its answer always parses.

The schema is built per request: only tasks the attached files make possible, integers within the plan's
bounds, exactly one role per attached file. The answer is normalised (sizes to multiples of 16, frames to
4k+1, roles repaired to fit the task), the user's explicit values win, and anything that still fails
validation falls back to the rules planner (the plan's ``fallback`` says why).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import PlanError
from unison_agent.contract.plan import (
    CONTROL_KINDS,
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_VIDEO_FRAMES,
    DEFAULT_WIDTH,
    MAX_FRAMES,
    MAX_SIDE,
    MIN_SIDE,
    PLANNER_TASKS,
    ROLES,
    InputRef,
    Plan,
    Task,
    snap16,
    snap_frames,
)
from unison_agent.planners.base import Request
from unison_agent.planners.overrides import apply_explicit, fallback_plan, repair_roles

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
    from unison_agent.models.qwen_loader import LoadedPlanner

MAX_NEW_TOKENS = None  # None: enough for the longest answer the schema allows, even one character per token
PROMPT_FILE = "planner_qwen.txt"


def possible_tasks(kinds: list[str]) -> list[str]:
    """Tasks whose required inputs the attached files (by kind) can supply, in canonical order."""
    has_image, has_video = "image" in kinds, "video" in kinds
    out = []
    for task in PLANNER_TASKS:
        need = {
            Task.image_understanding: has_image,
            Task.video_understanding: has_video,
            Task.image_reference: has_image,
            Task.video_reference: has_image,
            Task.image_to_video: has_image,
            Task.image_control: has_image,
            Task.image_edit: has_image,
            Task.video_control: has_image or has_video,
            Task.video_edit: has_video,
        }.get(task, True)
        if need:
            out.append(task.value)
    return out


def plan_schema(kinds: list[str]) -> dict[str, Any]:
    """The JSON schema the model's answer must follow for a request with files of these kinds."""

    def nullable(schema: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [schema, {"type": "null"}]}

    side = {"type": "integer", "minimum": MIN_SIDE, "maximum": MAX_SIDE}
    n = len(kinds)
    return {
        "type": "object",
        "properties": {
            "task": {"enum": possible_tasks(kinds)},
            "width": nullable(side),
            "height": nullable(side),
            "num_frames": nullable({"type": "integer", "minimum": 1, "maximum": MAX_FRAMES}),
            "frame_anchor": nullable({"enum": ["first", "last"]}),
            "control": nullable({"enum": list(CONTROL_KINDS)}),
            "roles": {"type": "array", "items": {"enum": list(ROLES)}, "minItems": n, "maxItems": n},
        },
        "required": ["task", "width", "height", "num_frames", "frame_anchor", "control", "roles"],
        "additionalProperties": False,
    }


def token_budget(n_files: int) -> int:
    """New tokens that always suffice for a schema-valid answer (its longest form is ~150 characters plus
    at most 13 per role; every token carries at least one character), so the answer is never cut off."""
    return 192 + 16 * n_files


def build_plan(answer: dict[str, Any], request: Request, backend: str = "qwen", raw: str | None = None) -> Plan:
    """A plan from the model's (schema-valid) answer: defaults filled, values snapped, roles repaired.

    Raises PlanError if the result still is not a valid plan.
    """
    try:
        task = Task(answer["task"])
        if task not in PLANNER_TASKS:
            raise ValueError(task)
    except (KeyError, ValueError):
        raise PlanError(f"task: {answer.get('task')!r} is not one of the twelve tasks") from None
    kinds = [m.kind for m in request.mentions]
    roles = repair_roles(task, kinds, [str(r) for r in answer.get("roles") or []])
    fields: dict[str, Any] = {}
    if task.is_generation:
        fields["width"] = snap16(answer.get("width") or DEFAULT_WIDTH)
        fields["height"] = snap16(answer.get("height") or DEFAULT_HEIGHT)
        if task.output == "image":
            fields["num_frames"], fields["fps"] = 1, None
        else:
            fields["num_frames"] = snap_frames(int(answer.get("num_frames") or DEFAULT_VIDEO_FRAMES))
            fields["fps"] = DEFAULT_FPS
    if task is Task.image_to_video:
        fields["frame_anchor"] = answer.get("frame_anchor") or "first"
    if task in (Task.image_control, Task.video_control):
        fields["control"] = answer.get("control") or "ready"
    inputs = [InputRef(path=m.path, kind=m.kind, role=r) for m, r in zip(request.mentions, roles, strict=True)]
    sized = task.is_generation and bool(answer.get("width")) and bool(answer.get("height"))
    return Plan(
        task=task, prompt=request.prompt, inputs=inputs, planner=backend, raw=raw, sized_by_planner=sized, **fields
    )


def system_prompt(request: Request) -> str:
    """The planning instructions with the attached files listed (kind, and a hint when one looks like a mask)."""
    from unison_agent.prompts import render_prompt

    files = [
        {"index": i, "kind": m.kind, "note": "black-and-white, looks like a mask" if m.is_mask else ""}
        for i, m in enumerate(request.mentions)
    ]
    return render_prompt(PROMPT_FILE, files=files)


class QwenPlanner:
    """``QwenPlanner(settings).plan(request) -> Plan`` with the base Instruct model and a JSON grammar."""

    name = "qwen"

    @classmethod
    def from_settings(cls, settings: Settings) -> QwenPlanner:
        return cls(settings)

    def __init__(self, settings: Settings, *, max_new_tokens: int | None = MAX_NEW_TOKENS) -> None:
        self.settings = settings
        self.max_new_tokens = max_new_tokens

    def load(self) -> LoadedPlanner:
        from unison_agent.models.qwen_loader import load_planner

        return load_planner(self.settings, "base")

    def generate(self, request: Request) -> str:
        """The model's JSON answer (constrained to :func:`plan_schema`)."""
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system_prompt(request)}]},
            {"role": "user", "content": [{"type": "text", "text": request.prompt}]},
        ]
        schema = plan_schema([m.kind for m in request.mentions])
        budget = self.max_new_tokens or token_budget(len(request.mentions))
        return constrained_json(self.load(), messages, schema, budget, self.settings.max_input_tokens)

    def plan(self, request: Request) -> Plan:
        from unison_agent.core.extend import extension_plan

        extended = extension_plan(request, self.name)  # not one of the twelve tasks: the rules recognise it
        if extended is not None:
            return extended
        raw = self.generate(request)
        return plan_from_json(raw, request, self.name)


def plan_from_json(raw: str, request: Request, backend: str = "qwen") -> Plan:
    """Parse the model's JSON answer into a plan (explicit values applied), or fall back to the rules."""
    try:
        answer = json.loads(raw)
        if not isinstance(answer, dict):
            raise ValueError("the answer is not a JSON object")
        plan = build_plan(answer, request, backend, raw)
    except (ValueError, PlanError) as exc:  # json.JSONDecodeError is a ValueError
        return fallback_plan(request, backend, f"the {backend} planner's answer is not a usable plan: {exc}", raw)
    return apply_explicit(plan, request)


# ----------------------------------------------------------------------------------------------------------
# constrained decoding


def constrained_json(
    planner: LoadedPlanner,
    messages: list[dict[str, Any]],
    schema: dict[str, Any],
    budget: int,
    max_tokens: int | None = None,
) -> str:
    """Greedy text-only generation constrained to a JSON ``schema`` (at most ``budget`` new tokens; an input over
    ``max_tokens`` is refused before the model runs)."""
    import torch

    from unison_agent.contract.tokens import check_input_tokens

    inputs = planner.processor.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    if max_tokens is not None:
        check_input_tokens(int(inputs["input_ids"].shape[1]), max_tokens, "planning")
    inputs = {k: v.to(planner.device) for k, v in inputs.items()}
    processor = json_logits_processor(planner, schema)
    with torch.no_grad():
        out = planner.model.generate(
            **inputs,
            max_new_tokens=budget,
            do_sample=False,
            logits_processor=[processor],
            eos_token_id=stop_ids(planner),  # the grammar may end with either
        )
    new = out[0, inputs["input_ids"].shape[1] :]
    return planner.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def stop_ids(planner: LoadedPlanner) -> list[int]:
    """The chat's end tokens: generation stops at whichever the grammar lets the model choose."""
    vocab = planner.tokenizer.get_vocab()
    return [int(vocab[t]) for t in ("<|im_end|>", "<|endoftext|>") if t in vocab]


def _compiler(planner: LoadedPlanner):
    """An xgrammar GrammarCompiler for the planner's tokenizer (built once per planner)."""
    from unison_agent.models.registry import registry

    def make():
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(
            planner.tokenizer, vocab_size=planner.vocab_size, stop_token_ids=stop_ids(planner) or None
        )
        return xgr.GrammarCompiler(info)

    return registry().get(("xgrammar-compiler", planner.path, planner.vocab_size), make)


def json_logits_processor(planner: LoadedPlanner, schema: dict[str, Any]):
    """A fresh (single-use) logits processor constraining generation to ``schema``."""
    from xgrammar.contrib.hf import LogitsProcessor

    compiled = _compiler(planner).compile_json_schema(json.dumps(schema), any_whitespace=False)
    return LogitsProcessor(compiled)
