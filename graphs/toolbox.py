"""The tools the graph calls, behind one small dataclass so tests can script them.

``Toolbox.default()`` wires the real implementations (imported only when first called, so building a graph
costs nothing): the planner backend chosen by the settings, ``tools.understand``, ``tools.annotate`` and
``tools.generate`` with the projector tokens computed by stage one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.plan import Plan
    from unison_agent.planners.base import Request
    from unison_agent.settings import Settings


class GenerationLike(Protocol):
    """What a generate tool returns (``tools.generate.GenerationResult``)."""

    outputs: list[Path]
    sidecars: list[Path]
    seed: int
    notes: list[str]
    timings: dict


PlanFn = Callable[["Request", "Settings"], "Plan"]
UnderstandFn = Callable[..., str]  # (plan, settings, *, history, on_token) -> str
GenerateFn = Callable[..., GenerationLike]  # (plan, settings, *, out_dir, seed, on_step) -> result
AnnotateFn = Callable[..., Path]  # (kind, input_path, out_path, settings, target=None) -> Path


@dataclass
class Toolbox:
    """The four things the graph does: plan a step, answer, annotate, generate."""

    plan: PlanFn
    understand: UnderstandFn
    generate: GenerateFn
    annotate: AnnotateFn
    name: str = "default"

    @classmethod
    def default(cls) -> Toolbox:
        return cls(plan=_plan, understand=_understand, generate=_generate, annotate=_annotate)


_PLANNERS: dict[Any, Any] = {}


def _plan(request: Request, settings: Settings) -> Plan:
    """Plan with the backend the settings name (cached per process: a model planner loads once)."""
    key = (settings.planner, settings.qwen, settings.unison, settings.planner_merged, settings.models_dir)
    if key not in _PLANNERS:
        try:
            from unison_agent.planners import get_planner
        except ImportError:  # stage one not installed: the rules planner is always there
            from unison_agent.planners.rules import RulesPlanner

            _PLANNERS[key] = RulesPlanner()
        else:
            _PLANNERS[key] = get_planner(settings.planner, settings)
    return _PLANNERS[key].plan(request)


def _understand(plan: Plan, settings: Settings, *, history=None, on_token=None) -> str:
    from unison_agent.tools.understand import understand

    from unison_agent.demo import require_weights

    require_weights(settings, "understanding")
    return understand(plan, settings, history=history, on_token=on_token)


def _generate(plan: Plan, settings: Settings, *, out_dir: Path, seed: int | None = None, on_step=None):
    from unison_agent.tools.generate import generate

    from unison_agent.demo import require_weights
    from unison_agent.projector import projector_tokens

    require_weights(settings, "generation")
    cond = projector_tokens(settings, plan.prompt)
    return generate(plan, settings, cond_tokens=cond, out_dir=out_dir, seed=seed, on_step=on_step)


def _annotate(kind: str, input_path: Path, out_path: Path, settings: Settings, target: str | None = None) -> Path:
    from unison_agent.tools.annotate import run_annotator

    return run_annotator(kind, Path(input_path), Path(out_path), settings, target=target)
