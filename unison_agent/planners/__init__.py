"""Planner backends: rules (deterministic), qwen (base Instruct + JSON schema), unison (the planning LoRA)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SettingsError

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import Settings
    from .base import Planner

PLANNERS = ("auto", "unison", "qwen", "rules")


def get_planner(name: str, settings: Settings) -> Planner:
    """A planner backend by name. ``auto``: the Unison LoRA when its weights are present, else the base Qwen
    model when present, else the rules planner. Demo mode always uses the rules planner."""
    from .rules import RulesPlanner

    if name not in PLANNERS:
        raise SettingsError(f"unknown planner {name!r}; choose one of {', '.join(PLANNERS)}")
    if name == "rules" or settings.demo:
        return RulesPlanner()
    if name == "auto":
        from ..qwen_loader import weights_status

        status = weights_status(settings)
        if status.get("unison"):
            name = "unison"
        elif status.get("qwen"):
            name = "qwen"
        else:
            return RulesPlanner()
    if name == "unison":
        from .unison import UnisonPlanner

        return UnisonPlanner(settings)
    from .qwen import QwenPlanner

    return QwenPlanner(settings)
