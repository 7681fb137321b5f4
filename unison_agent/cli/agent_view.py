"""What the agent commands (run, chat, chain) share: opening a session, progress display, showing results."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import RenderableType
from rich.progress import BarColumn, ProgressColumn, Task
from rich.table import Table
from rich.text import Text

GEN_OVERRIDE_FLAGS = (
    # flag, key, type, help
    ("--seed", "seed", int, "random seed for generation (recorded in the sidecar either way)"),
    ("--steps", "steps", int, "denoising steps (the method uses 50; demo mode 2)"),
    ("--guidance", "guidance", float, "classifier-free guidance scale (default 5.0)"),
    ("--width", "width", int, "output width (multiple of 16), overriding the plan"),
    ("--height", "height", int, "output height (multiple of 16), overriding the plan"),
    ("--frames", "num_frames", int, "video frame count (4k+1), overriding the plan"),
)


def add_generation_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """Generation settings as flags (``--offload``, ``--vae-tiling``): they land in the settings, like ``--device``."""
    from typing import get_args

    from unison_agent.contract.settings import Settings

    modes = get_args(Settings.model_fields["offload"].annotation)
    parser.add_argument(
        "--offload",
        dest="setting_offload",
        choices=modes,
        default=None,
        help="keep models off the GPU between uses: model (whole components), group (blocks, "
        "with CUDA streams) or sequential (layer by layer, least memory, slowest); default none "
        "(env UNISON_OFFLOAD)",
    )
    parser.add_argument(
        "--vae-tiling",
        dest="setting_vae_tiling",
        action="store_const",
        const=True,
        default=None,
        help="decode frames tile by tile (less GPU memory at large sizes) (env UNISON_VAE_TILING)",
    )
    parser.add_argument(
        "--vram-budget",
        dest="setting_vram_budget",
        type=float,
        default=None,
        metavar="GB",
        help="GPU memory the models may hold at once; idle models move to the CPU to stay under it "
        "(default: the device's free memory; env UNISON_VRAM_BUDGET)",
    )
    parser.add_argument(
        "--compile",
        dest="setting_compile",
        action="store_const",
        const=True,
        default=None,
        help="torch.compile the transformer's repeated blocks (slow first call) (env UNISON_COMPILE)",
    )
    parser.add_argument(
        "--fast",
        dest="setting_fast",
        action="store_const",
        const=True,
        default=None,
        help="step caching (first-block cache): faster, slightly different output (env UNISON_FAST)",
    )
    parser.add_argument(
        "--window-frames",
        dest="setting_window_frames",
        type=int,
        default=None,
        metavar="N",
        help="frames per generation window (4k+1, default 81): longer videos are made window by "
        "window (env UNISON_WINDOW_FRAMES)",
    )
    parser.add_argument(
        "--window-overlap",
        dest="setting_window_overlap",
        type=int,
        default=None,
        metavar="N",
        help="frames each window keeps from the previous one (4k+1, default 17) (env UNISON_WINDOW_OVERLAP)",
    )
    parser.add_argument(
        "--max-video-seconds",
        dest="setting_max_video_seconds",
        type=float,
        default=None,
        metavar="S",
        help="the longest video a request may ask for (default 60) (env UNISON_MAX_VIDEO_SECONDS)",
    )


def add_session_arguments(parser: argparse.ArgumentParser, *, thread_help: str) -> None:
    parser.add_argument("--thread", help=thread_help)
    parser.add_argument(
        "--confirm",
        action="store_true",
        default=None,
        help="show each generation's plan and ask to accept, change or cancel it",
    )


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, key, kind, help_text in GEN_OVERRIDE_FLAGS:
        parser.add_argument(flag, dest=f"override_{key}", type=kind, default=None, help=help_text)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k.removeprefix("override_"): v for k, v in vars(args).items() if k.startswith("override_") and v is not None
    }


def default_thread(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def open_session(settings, *, thread: str, confirm: bool | None, console, tools: Any = None):
    """A Session on ``thread`` (demo mode was already applied by the CLI's entry)."""
    from unison_agent.core.session import Session

    return Session(settings, thread=thread, tools=tools, confirm=confirm)


class ProgressView:
    """Turns session events into ONE rich live line: the current stage's label (planning, loading which model,
    running which annotator, denoising, decoding, writing...), and for counted stages a bar with i/N, the elapsed
    time and the time left; answer tokens stream as they come. On a non-terminal console (a pipe) it shows
    nothing, so scripted output stays clean. See :mod:`unison_agent.core.progress` for the events."""

    def __init__(self, console, *, stream_tokens: bool = True) -> None:
        self.console = console
        self.live = console.is_terminal
        self.stream_tokens = stream_tokens and console.is_terminal
        self.progress = None
        self.task = None
        self.stage: str | None = None
        self.labels: dict[str, str] = {}
        self.streamed = False

    def __enter__(self) -> ProgressView:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn

            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                _StepBar(),
                _StepTimes(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self._begin("planning", "planning")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.streamed:
            self.console.print()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "token":
            if self.stream_tokens:
                self.stop()
                self.console.print(event["text"], end="", markup=False, highlight=False)
                self.streamed = True
            return
        if self.progress is None:
            return
        if kind == "stage":
            self.labels[event["stage"]] = event["text"]
            self._begin(event["stage"], event["text"])
        elif kind == "status":  # a passing remark (a retried attempt): the label, not a new stage
            self.progress.update(self.task, description=event["text"])
        elif kind == "step":
            stage = event.get("stage", "denoising")
            if stage != self.stage:  # back to a counted stage after another one (a model loaded inside it)
                self._begin(stage, self.labels.get(stage, stage))
            self.progress.update(
                self.task,
                total=event["total"],
                completed=event["step"],
                at=time.monotonic(),
                elapsed=event.get("elapsed_s"),
                remaining=event.get("remaining_s"),
            )
        else:
            return  # node names are not shown: the stages say what is happening
        self.progress.refresh()  # every stage reaches the screen, however short

    def _begin(self, stage: str, label: str) -> None:
        """A new stage: a fresh line (its own clock, no bar until a step is counted)."""
        self.stage = stage
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(label, total=None, at=None, elapsed=None, remaining=None)


class _StepBar(ProgressColumn):
    """A bar with i/N for counted stages; nothing for the others (no bar stuck at 0/?)."""

    def __init__(self) -> None:
        super().__init__()
        self.bar = BarColumn()

    def render(self, task: Task) -> RenderableType:
        if task.total is None:
            return ""
        grid = Table.grid(padding=(0, 1))
        grid.add_row(self.bar.render(task), f"{int(task.completed)}/{int(task.total)}")
        return grid


class _StepTimes(ProgressColumn):
    """The stage's elapsed time; for counted stages the source's elapsed and remaining times, running on between
    steps (the remaining time counts down)."""

    def render(self, task: Task) -> RenderableType:
        at, elapsed, remaining = (task.fields.get(k) for k in ("at", "elapsed", "remaining"))
        if task.total is None or at is None or elapsed is None:
            return Text(_clock(task.elapsed or 0.0), style="progress.elapsed")
        since = time.monotonic() - at
        left = "" if remaining is None else f", {_clock(max(0.0, float(remaining) - since))} left"
        return Text(f"{_clock(float(elapsed) + since)} elapsed{left}", style="progress.elapsed")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def print_turn(console, result, *, answer_streamed: bool = False) -> None:
    """The human view of a turn: answers, output files with their ids, notes, errors."""
    from rich.markup import escape

    from unison_agent.core import present

    for step in result.results:
        if step.get("status") == "cancelled":
            console.print(f"[yellow]cancelled[/] {escape(step.get('request', ''))}")
            continue
        if step.get("outputs"):
            console.print(f"[bold green]{escape(step['task'])}[/] {escape(step.get('answer', ''))}")
            files = step.get("files") or [{"path": p, "role": "prepared"} for p in step.get("prepared", [])] + [
                {"path": p, "role": "output"} for p in step["outputs"]
            ]
            for f in files:  # every file the step made, with the id a later turn can use ("#3")
                label = f"#{f['id']} " if "id" in f else ""
                role = "" if f["role"] == "output" else f"{f['role']} "
                console.print(f"  {label}{role}{escape(f['path'])}", soft_wrap=True, highlight=False)
            for note in present.step_notes(step, result.demo):
                console.print(f"  [dim]note: {escape(note)}[/]", soft_wrap=True)
        elif not answer_streamed:
            console.print(escape(step.get("answer", "")), highlight=False, soft_wrap=True)
    for err in result.errors:
        console.print(
            f"[bold red]error[/] (step {err['step'] + 1}: {escape(err['request'])}): {escape(err['error'])}",
            soft_wrap=True,
        )
    if result.demo and result.results:
        console.print(
            "[dim](demo: tiny random-weight models, not the real weights: outputs are noise, answers gibberish)[/]",
            soft_wrap=True,
        )


def ask_confirmations(session, result, console, read_line) -> Any:
    """While the turn waits for confirmation: show the plan and read accept / k=v changes / cancel."""
    from rich.markup import escape

    from unison_agent.contract.plan import Plan

    while result.pending:
        pending = result.pending
        console.print(render_plan(Plan.from_json(pending["plan"])))
        if pending.get("notice") and pending["notice"] != "changed":
            console.print(f"[yellow]{escape(pending['notice'])}[/]")
        line = read_line("accept [Enter] / change (e.g. width=480 num_frames=33) / cancel > ")
        if line is None:
            line = "cancel"
        with ProgressView(console) as view:
            result = session.resume(line.strip(), on_event=view)
    return result


def render_plan(plan):
    """A rich table of a plan (also used by chat's /plan)."""
    from rich.table import Table

    table = Table(title=f"plan: {plan.task.value}", show_header=False, title_justify="left")
    table.add_column("field", style="bold cyan")
    table.add_column("value")
    table.add_row("task", f"{plan.task.value} ({plan.task.output} output)")
    table.add_row("prompt", plan.prompt)
    for i, ref in enumerate(plan.inputs):
        table.add_row(f"input {i}", f"{ref.role}: {ref.path} ({ref.kind})")
    if plan.task.is_generation:
        table.add_row("size", f"{plan.width}x{plan.height}")
        if plan.task.output == "video":
            table.add_row("frames", f"{plan.num_frames} at {plan.fps} fps ({(plan.num_frames - 1) / plan.fps:g} s)")
    for name in ("frame_anchor", "control", "target"):
        value = getattr(plan, name)
        if value is not None:
            table.add_row(name.replace("_", " "), str(value))
    table.add_row("planner", plan.planner + (f" (fallback: {plan.fallback})" if plan.fallback else ""))
    return table
