"""``unison train planner``: read and check the data, split it, measure the starting adapter, train, save, measure
the result on the validation split (``eval plans`` with the unison planner, through the public planning path)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unison_agent.training.data import Example, split
from unison_agent.training.planner import PlannerTrainConfig, TrainResult, build_model, save_adapter, schedule, train

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
    from unison_agent.core.evaluation import Report

START_DIR = "start-adapter"


@dataclass
class PlannerRun:
    """What a training run did: the split sizes, the losses, and the figures before and after."""

    out: Path
    n_train: int
    n_val: int
    result: TrainResult
    before: Report | None
    after: Report | None


def figures(report: Report | None) -> dict[str, Any] | None:
    """Task accuracy and all-fields-right of an eval report (None when not measured), counting the adapter's own
    plans only: a plan the rules planner made because the adapter's output did not decode counts as wrong."""
    if report is None:
        return None
    own = [r for r in report.results if not getattr(r, "fallback", None)]
    return {
        "cases": len(report.results),
        "task_right": sum("task" not in r.wrong for r in own),
        "all_fields_right": sum(not r.wrong for r in own),
        "fallbacks": len(report.results) - len(own),
    }


def evaluate_adapter(settings: Settings, adapter: Path, examples: list[Example], media: dict[str, Path]) -> Report:
    """``eval plans --planner unison --unison ADAPTER`` on ``examples``; the planner is dropped from the model
    registry afterwards (the same directory may hold a different adapter next time)."""
    from unison_agent.core.evaluation import evaluate
    from unison_agent.graphs.toolbox import default_tools

    s = settings.replace(planner="unison", unison=str(adapter), planner_merged=None, demo=False)
    watch = _FallbackWatch(default_tools().planner(s))
    try:
        report = evaluate([e.case for e in examples], settings=s, planner=watch, media=media)
    finally:
        forget_planner(adapter)
    for result, example in zip(report.results, examples, strict=True):  # plans the rules made in its place
        result.fallback = watch.fallbacks.get(example.prompt)  # type: ignore[attr-defined]
    return report


class _FallbackWatch:
    """A planner (``plan(request) -> Plan``) that notes each request whose plan fell back to the rules (by its
    planning prompt)."""

    def __init__(self, planner) -> None:
        self.planner = planner
        self.fallbacks: dict[str, str] = {}

    def plan(self, request):
        plan = self.planner.plan(request)
        if plan.fallback:
            self.fallbacks[request.prompt] = plan.fallback
        return plan


def forget_planner(adapter: Path) -> None:
    """Drop cached planners loaded with ``adapter`` from the process-wide registry."""
    from unison_agent.models.registry import registry

    reg = registry()
    with reg._lock:  # the registry has no per-key eviction of its own
        for key in [k for k in reg._models if isinstance(k, tuple) and str(adapter) in map(str, k)]:
            del reg._models[key]


def train_planner(
    settings: Settings,
    examples: list[Example],
    cfg: PlannerTrainConfig,
    media: dict[str, Path],
    *,
    val_fraction: float = 0.1,
    val_examples: list[Example] | None = None,
    run_eval: bool = True,
    console=None,
    sources: dict[str, Any] | None = None,
) -> PlannerRun:
    """The whole run. ``val_examples`` (e.g. a separate file) replaces the split when given; ``training.json``
    names the examples of each split (their ids) and holds ``sources`` (where the examples came from)."""
    from unison_agent.core.progress import quiet_library_bars

    quiet_library_bars("transformers", "huggingface_hub")
    if val_examples is None:
        train_set, val_set = split(examples, val_fraction, cfg.seed)
    else:
        train_set, val_set = examples, val_examples
    cfg.out.mkdir(parents=True, exist_ok=True)
    say = console.print if console is not None else (lambda *a, **k: None)
    total, _ = schedule(cfg, len(train_set))
    start = "a fresh LoRA" if cfg.start is None else f"the adapter at {cfg.start}"
    say(f"training {start} on {len(train_set)} case(s), validating on {len(val_set)}; {total} optimizer step(s)")
    if cfg.start is None:
        say(
            f"fresh LoRA: r={cfg.lora_r}, alpha={cfg.lora_alpha}, dropout={cfg.lora_dropout} on "
            f"{', '.join(cfg.lora_targets)}; the 14 Unison token rows and lm_head trainable"
        )

    model, processor, device, _ = build_model(settings, cfg)
    start_dir = cfg.start
    if start_dir is None:  # the untrained fresh LoRA, saved so that it is measured the same way
        start_dir = cfg.out / START_DIR
        if not cfg.resume or not (start_dir / "adapter_config.json").is_file():
            model.save_pretrained(str(start_dir))
    before = evaluate_adapter(settings, start_dir, val_set, media) if run_eval and val_set else None

    result = _train_with_bar(model, processor, train_set, cfg, device, console)
    save_adapter(
        model,
        processor,
        cfg,
        cfg.out,
        {
            "train_cases": len(train_set),
            "val_cases": len(val_set),
            "train_ids": [e.id for e in train_set],
            "val_ids": [e.id for e in val_set],
            **({"sources": sources} if sources else {}),
            "losses": result.losses,
        },
    )
    del model
    after = evaluate_adapter(settings, cfg.out, val_set, media) if run_eval and val_set else None
    if before is not None and after is not None:
        _append_figures(cfg.out, before, after)
    return PlannerRun(cfg.out, len(train_set), len(val_set), result, before, after)


def _append_figures(out: Path, before: Report, after: Report) -> None:
    import json

    path = out / "training.json"
    data = json.loads(path.read_text())
    data["validation"] = {"before": figures(before), "after": figures(after)}
    path.write_text(json.dumps(data, indent=1))


def _train_with_bar(model, processor, train_set, cfg, device, console) -> TrainResult:
    if console is None:
        return train(model, processor, train_set, cfg, device)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("train", total=schedule(cfg, len(train_set))[0], loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, loss=f"{loss:.4f}")

        return train(model, processor, train_set, cfg, device, on_step=on_step)


def default_media(folder: Path | None = None) -> tuple[dict[str, Path], tempfile.TemporaryDirectory | None]:
    """The synthetic media the cases name, in ``folder`` or a temporary one (returned, to be cleaned up)."""
    from unison_agent.core.evaluation import make_media

    if folder is not None:
        return make_media(folder), None
    tmp = tempfile.TemporaryDirectory(prefix="unison-train-")
    return make_media(Path(tmp.name)), tmp
