"""The things the graph's nodes do with models: plan a step, answer, annotate, generate, check an output.

:class:`Toolbox` is the interface (a Protocol); :class:`ModelTools` implements it with the real models, each
loaded on first use (building a graph loads nothing). Tests pass their own implementation through the same
door (``build_graph(settings, tools)`` / ``Session(..., tools=...)``); :func:`default_tools` is what the
graph uses when none is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.plan import Plan
    from unison_agent.contract.settings import Settings
    from unison_agent.planners.base import Planner


class Generated(Protocol):
    """What ``generate`` returns (``tools.generate.GenerationResult``)."""

    outputs: list[Path]
    sidecars: list[Path]
    seed: int
    notes: list[str]
    timings: dict[str, float]
    width: int
    height: int
    num_frames: int


class AnnotationMade(Protocol):
    """What ``annotate`` returns (``tools.annotate.Annotation``)."""

    path: Path
    notes: list[str]


class Toolbox(Protocol):
    """The graph's tools."""

    def planner(self, settings: Settings) -> Planner:
        """The planner backend the settings name (``planners.base.Planner``: ``plan(request) -> Plan``)."""
        ...

    def understand(
        self,
        plan: Plan,
        settings: Settings,
        *,
        history: list[dict[str, Any]] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        """Answer an understanding plan (text, images, videos) with the conversation so far."""
        ...

    def annotate(
        self, kind: str, input_path: Path, out_path: Path, settings: Settings, *, target: str | None = None
    ) -> AnnotationMade:
        """Run one annotator on a file and write its output (PNG / MP4 + sidecar)."""
        ...

    def generate(
        self,
        plan: Plan,
        settings: Settings,
        *,
        out_dir: Path,
        seed: int | None = None,
        on_step: Callable[[int, int], None] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> Generated:
        """Generate what a plan asks for into ``out_dir``; ``files`` maps a role to a prepared map's path."""
        ...

    def check(self, question: str, paths: list[str], settings: Settings) -> float:
        """The probability the understanding model answers "yes" to ``question`` about the files."""
        ...


class ModelTools:
    """The real tools: planners from the registry, Qwen2.5-VL understanding, the annotators, Unison stage two."""

    name = "models"

    def __init__(self) -> None:
        self._planners: dict[Any, Any] = {}

    def planner(self, settings: Settings) -> Planner:
        from unison_agent.planners import get_planner

        key = (
            settings.planner,
            settings.demo,
            settings.qwen,
            settings.unison,
            settings.planner_merged,
            settings.models_dir,
        )
        if key not in self._planners:  # a model planner loads once
            self._planners[key] = get_planner(settings.planner, settings)
        return self._planners[key]

    def understand(self, plan, settings, *, history=None, on_token=None) -> str:
        from unison_agent.models.weights import require_weights
        from unison_agent.tools.understand import understand

        require_weights(settings, "understanding")
        return understand(plan, settings, history=history, on_token=on_token)

    def check(self, question, paths, settings) -> float:
        from unison_agent.models.weights import require_weights
        from unison_agent.tools.understand import yes_probability

        require_weights(settings, "understanding")
        return yes_probability(question, list(paths), settings)

    def annotate(self, kind, input_path, out_path, settings, *, target=None):
        from unison_agent.tools.annotate import annotate_file

        return annotate_file(kind, Path(input_path), Path(out_path), settings, target=target)

    def generate(self, plan, settings, *, out_dir, seed=None, on_step=None, files=None):
        from unison_agent.models.weights import require_weights
        from unison_agent.tools.generate import generate

        require_weights(settings, "generation")
        return generate(plan, settings, out_dir=Path(out_dir), seed=seed, on_step=on_step, files=files)


_DEFAULT: ModelTools | None = None


def default_tools() -> Toolbox:
    """The process's real tools (one instance, so a model planner loads once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ModelTools()
    return _DEFAULT
