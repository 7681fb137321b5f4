"""Planning evaluation: how well a planner backend plans, measured on a set of cases.

A case is one JSON line: ``{"id", "prompt", "expect": {"task", "roles", "width", "height", "num_frames", "fps",
"frame_anchor", "control", "target"}}`` (only the fields it checks). ``{name}`` in a prompt stands for one of the
synthetic media files :func:`make_media` writes (:data:`MEDIA`). Each case is prepared exactly as ``run`` prepares a
request (:func:`unison_agent.core.prepare.prepare_request`: planning, explicit values, fitting, the control verdict), so
the figures describe the plans that would run.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unison_agent.contract.errors import UnisonError
from unison_agent.contract.plan import PLANNER_TASKS
from unison_agent.contract.settings import Settings
from unison_agent.core.prepare import prepare_request
from unison_agent.media.files import write_image, write_video
from unison_agent.planners.base import Planner

FIELDS = ("task", "roles", "width", "height", "num_frames", "fps", "frame_anchor", "control", "target")
MEDIA = ("photo", "street", "face", "mask", "clip", "dance", "pose", "pose_image", "depth", "edges")


def make_media(folder: str | Path) -> dict[str, Path]:
    """Write the synthetic media the cases name (natural pictures and clips, a mask, control maps); their paths."""
    import cv2

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    h, w = 96, 160
    yy, xx = np.mgrid[0:h, 0:w]

    def natural(seed: int, shift: int = 0) -> np.ndarray:
        r = np.random.default_rng(seed)
        base = np.stack([110 + 50 * np.sin((xx + shift) / 9), 130 + 40 * np.cos(yy / 7), 150 - 60 * yy / h], -1)
        f = base + r.normal(0, 18, base.shape)
        f[30:70, 40 + shift : 80 + shift] = (200, 70, 40)
        return np.clip(f, 0, 255).astype(np.uint8)

    def skeleton(t: int) -> np.ndarray:
        f = np.zeros((h, w, 3), np.uint8)
        cx = w // 2 + t
        for (a, b), colour in zip(
            [
                ((cx, 20), (cx, 50)),
                ((cx, 30), (cx - 30, 50)),
                ((cx, 30), (cx + 30, 50)),
                ((cx, 50), (cx - 20, 85)),
                ((cx, 50), (cx + 20, 85)),
            ],
            [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255)],
            strict=True,
        ):
            cv2.line(f, a, b, colour, 3)
        return f

    mask = np.zeros((h, w), np.uint8)
    mask[30:70, 50:110] = 255
    depth = np.clip(255 - np.hypot(xx - w / 2, yy - h) * 1.6, 0, 255).astype(np.uint8)
    edges = cv2.Canny(cv2.cvtColor(natural(3), cv2.COLOR_RGB2GRAY), 80, 160)
    paths = {
        "photo": write_image(d / "photo.png", natural(1)),
        "street": write_image(d / "street.png", natural(2)),
        "face": write_image(d / "face.png", natural(4)),
        "mask": write_image(d / "mask.png", mask),
        "clip": write_video(d / "clip.mp4", np.stack([natural(5, t) for t in range(17)]), fps=16),
        "dance": write_video(d / "dance.mp4", np.stack([natural(6, t) for t in range(17)]), fps=16),
        "pose": write_video(d / "pose.mp4", np.stack([skeleton(t) for t in range(17)]), fps=16),
        "pose_image": write_image(d / "pose_image.png", skeleton(0)),
        "depth": write_image(d / "depth.png", np.repeat(depth[..., None], 3, -1)),
        "edges": write_image(d / "edges.png", np.repeat(edges[..., None], 3, -1)),
    }
    del rng
    return {k: Path(v) for k, v in paths.items()}


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """The cases of a JSONL file; a clear error naming the line for a bad one."""
    cases = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnisonError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(case, dict) or "prompt" not in case or "task" not in case.get("expect", {}):
            raise UnisonError(f'{path}:{n}: a case needs "prompt" and "expect": {{"task": ...}}')
        unknown = set(case["expect"]) - set(FIELDS)
        if unknown:
            raise UnisonError(
                f"{path}:{n}: unknown expected field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}"
            )
        case.setdefault("id", f"line-{n}")
        cases.append(case)
    return cases


@dataclass
class CaseResult:
    id: str
    prompt: str
    expect: dict[str, Any]
    got: dict[str, Any]
    wrong: list[str]
    seconds: float
    error: str | None = None


@dataclass
class Report:
    """Per-field accuracy, a task confusion table, the failing cases and the latency of planning."""

    planner: str
    results: list[CaseResult] = field(default_factory=list)

    def accuracy(self) -> dict[str, tuple[int, int]]:
        """field -> (right, checked)."""
        out: dict[str, tuple[int, int]] = {}
        for name in FIELDS:
            checked = [r for r in self.results if name in r.expect]
            if checked:
                out[name] = (sum(name not in r.wrong for r in checked), len(checked))
        return out

    def confusion(self) -> dict[str, dict[str, int]]:
        """expected task -> {planned task: count}."""
        table: dict[str, Counter] = {}
        for r in self.results:
            table.setdefault(r.expect["task"], Counter())[str(r.got.get("task"))] += 1
        return {k: dict(v) for k, v in table.items()}

    @property
    def failing(self) -> list[CaseResult]:
        return [r for r in self.results if r.wrong]

    def latency(self) -> dict[str, float]:
        secs = [r.seconds for r in self.results]
        if not secs:
            return {}
        ordered = sorted(secs)
        return {
            "mean_s": statistics.fmean(secs),
            "median_s": statistics.median(secs),
            "p95_s": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        }

    def to_json(self) -> dict[str, Any]:
        acc = self.accuracy()
        return {
            "planner": self.planner,
            "cases": len(self.results),
            "accuracy": {k: {"right": r, "checked": n, "rate": r / n} for k, (r, n) in acc.items()},
            "all_fields_right": sum(not r.wrong for r in self.results),
            "confusion": self.confusion(),
            "latency": self.latency(),
            "failing": [
                {
                    "id": r.id,
                    "prompt": r.prompt,
                    "wrong": {k: {"want": r.expect[k], "got": r.got.get(k)} for k in r.wrong},
                    "error": r.error,
                }
                for r in self.failing
            ],
        }


def evaluate(
    cases: Iterable[dict[str, Any]], *, settings: Settings, planner: Planner, media: dict[str, Path]
) -> Report:
    """Prepare every case as ``run`` would and compare the first step's plan with the expected fields."""
    report = Report(planner=settings.planner)
    for case in cases:
        prompt = case["prompt"].format(**{k: f"###{p}###" for k, p in media.items()})
        expect = case["expect"]
        started = time.perf_counter()
        got: dict[str, Any] = {}
        error = None
        try:
            step = prepare_request(prompt, settings=settings, planner=planner)[0]
            got = _observed(step, media)
        except UnisonError as exc:
            error = str(exc)
        seconds = time.perf_counter() - started
        wrong = [k for k in FIELDS if k in expect and (error is not None or got.get(k) != expect[k])]
        report.results.append(CaseResult(case["id"], case["prompt"], expect, got, wrong, seconds, error))
    return report


def _observed(step, media: dict[str, Path]) -> dict[str, Any]:
    plan = step.plan
    if plan is None:
        return {"task": f"annotate:{step.jobs[0].kind}"}
    data = plan.to_json()
    data["roles"] = [i.role for i in plan.inputs]
    data["task"] = plan.task.value
    return {k: data.get(k) for k in FIELDS}


def render(report: Report, console) -> None:
    """Rich tables: accuracy per field, the confusion table, the failing cases, latency."""
    from rich.table import Table

    acc = Table(title=f"planning accuracy: {report.planner} planner, {len(report.results)} cases", title_justify="left")
    acc.add_column("field")
    acc.add_column("right", justify="right")
    acc.add_column("checked", justify="right")
    acc.add_column("accuracy", justify="right")
    for name, (right, n) in report.accuracy().items():
        acc.add_row(name, str(right), str(n), f"{right / n:.1%}")
    everything = sum(not r.wrong for r in report.results)
    acc.add_row(
        "[bold]all fields[/]",
        str(everything),
        str(len(report.results)),
        f"{everything / max(1, len(report.results)):.1%}",
    )
    console.print(acc)

    tasks = [t.value for t in PLANNER_TASKS]
    conf = report.confusion()
    planned = sorted({p for row in conf.values() for p in row}, key=lambda p: tasks.index(p) if p in tasks else 99)
    table = Table(title="task confusion (rows: expected, columns: planned)", title_justify="left")
    table.add_column("expected")
    for p in planned:
        table.add_column(_short(p), justify="right")
    for t in tasks:
        if t in conf:
            table.add_row(t, *[str(conf[t].get(p, "")) for p in planned])
    console.print(table)

    if report.failing:
        fails = Table(title=f"failing cases ({len(report.failing)})", title_justify="left")
        fails.add_column("id")
        fails.add_column("prompt", overflow="fold")
        fails.add_column("wrong", overflow="fold")
        for r in report.failing:
            what = r.error or "; ".join(f"{k}: {r.got.get(k)!r} (want {r.expect[k]!r})" for k in r.wrong)
            fails.add_row(r.id, r.prompt, what)
        console.print(fails)
    lat = report.latency()
    if lat:
        console.print(
            f"latency per plan: mean {lat['mean_s'] * 1000:.1f} ms, median {lat['median_s'] * 1000:.1f} ms, "
            f"p95 {lat['p95_s'] * 1000:.1f} ms"
        )


def _short(task: str) -> str:
    return "".join(w[0] for w in task.split("_")) if "_" in task else task
