"""Planner backends, in one registry: rules (deterministic), qwen (base Instruct + JSON schema), unison (the
planning LoRA). A new backend is one module with a class that has ``name``, ``from_settings(settings)`` and
``plan(request) -> Plan``, plus one line in :data:`PLANNERS`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from unison_agent.contract.errors import SettingsError

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
    from unison_agent.planners.base import Planner

PLANNERS: dict[str, str] = {
    "unison": "unison_agent.planners.unison:UnisonPlanner",
    "qwen": "unison_agent.planners.qwen:QwenPlanner",
    "rules": "unison_agent.planners.rules:RulesPlanner",
}
"""Backend name -> ``module:class`` (imported only when chosen: the model planners pull in torch)."""
CHOICES: tuple[str, ...] = ("auto", *PLANNERS)


def auto_choice(settings: Settings) -> str:
    """``auto``: the Unison LoRA when its weights are present, else the base Qwen model, else the rules."""
    from unison_agent.models.qwen_loader import weights_status

    status = weights_status(settings)
    return "unison" if status.get("unison") else "qwen" if status.get("qwen") else "rules"


def get_planner(name: str, settings: Settings) -> Planner:
    """A planner backend by name (``auto`` chooses by the weights present; in demo mode ``auto`` is the rules: a
    named backend is used as named, e.g. ``--demo --planner unison --unison ~/adapters/mine``)."""
    if name not in CHOICES:
        raise SettingsError(f"unknown planner {name!r}; choose one of {', '.join(CHOICES)}")
    if name == "auto":
        name = "rules" if settings.demo else auto_choice(settings)
    module, cls = PLANNERS[name].split(":")
    return getattr(importlib.import_module(module), cls).from_settings(settings)
