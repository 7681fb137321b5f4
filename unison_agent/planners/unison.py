"""The ``unison`` planner: the planning LoRA answers in the Unison token protocol, decoded by the codec.

The reference convention: the user message is the planning prompt (``<IMGPAD>``/``<VIDPAD>`` in place of
paths), chat-templated with a generation prompt, greedy decoding of at most 256 new tokens, special tokens
kept, ``<|im_end|>`` stripped. Output that cannot be decoded falls back to the rules planner (the plan's
``fallback`` says why); the user's explicit values win over the model's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unison_agent.contract.errors import PlanError, ProtocolError, WeightsError
from unison_agent.contract.plan import Plan
from unison_agent.planners.base import Request
from unison_agent.planners.overrides import apply_explicit, fallback_plan

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
    from unison_agent.models.qwen_loader import LoadedPlanner

MAX_NEW_TOKENS = 256


class UnisonPlanner:
    """``UnisonPlanner(settings).plan(request) -> Plan`` with the merged planner or base + LoRA adapter."""

    name = "unison"

    @classmethod
    def from_settings(cls, settings: Settings) -> UnisonPlanner:
        return cls(settings)

    def __init__(self, settings: Settings, *, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.settings = settings
        self.max_new_tokens = max_new_tokens

    def load(self) -> LoadedPlanner:
        """The merged planner if present, else base + adapter (cached per process)."""
        from unison_agent.models.qwen_loader import load_planner, weights_status

        status = weights_status(self.settings)
        if status["planner"] not in ("merged", "adapter"):
            missing = {k: v for k, v in status["missing"].items() if k in ("qwen", "adapter", "planner_merged")}
            raise WeightsError(
                "the unison planner needs the Unison LoRA adapter with the Qwen2.5-VL base model, or a merged "
                f"planner; missing: {missing}. Run `unison download`, or use --planner qwen / rules"
            )
        return load_planner(self.settings, status["planner"])

    def generate(self, prompt: str) -> str:
        """The planner's raw answer for a planning prompt (special tokens kept)."""
        import torch

        planner = self.load()
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        inputs = planner.processor.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        from unison_agent.contract.tokens import check_input_tokens

        check_input_tokens(int(inputs["input_ids"].shape[1]), self.settings.max_input_tokens, "planning")
        inputs = {k: v.to(planner.device) for k, v in inputs.items()}
        from unison_agent.models.residency import residency_for, resident

        with resident(residency_for(self.settings, planner.device), "planner"), torch.no_grad():
            out = planner.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1] :]
        return planner.tokenizer.decode(new, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def plan(self, request: Request) -> Plan:
        from unison_agent.core.extend import extension_plan

        extended = extension_plan(request, self.name)  # the LoRA has no such task: the rules recognise it
        if extended is not None:
            return extended
        raw = self.generate(request.prompt)
        return plan_from_tokens(raw, request, self.name)


def plan_from_tokens(raw: str, request: Request, backend: str = "unison") -> Plan:
    """Decode the planner's token answer into a plan (explicit values applied), or fall back to the rules."""
    from unison_agent.contract.protocol import decode

    try:
        plan = decode(raw, request.text, mentions=request.mentions)
    except (ProtocolError, PlanError) as exc:
        return fallback_plan(request, backend, f"the {backend} planner's output could not be decoded: {exc}", raw)
    plan = plan.with_changes(planner=backend, raw=raw)
    return apply_explicit(plan, request)
