"""What the agent commands (run, chat, chain) share: opening a session, progress display, showing results."""

from __future__ import annotations

import argparse
import time
from typing import Any

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

    from ..settings import Settings

    modes = get_args(Settings.model_fields["offload"].annotation)
    parser.add_argument("--offload", dest="setting_offload", choices=modes, default=None,
                        help="keep models off the GPU between uses: model (whole components), group (blocks, "
                             "with CUDA streams) or sequential (layer by layer, least memory, slowest); default none "
                             "(env UNISON_OFFLOAD)")  # fmt: skip
    parser.add_argument("--vae-tiling", dest="setting_vae_tiling", action="store_const", const=True, default=None,
                        help="decode frames tile by tile (less GPU memory at large sizes) (env UNISON_VAE_TILING)")  # fmt: skip
    parser.add_argument("--vram-budget", dest="setting_vram_budget", type=float, default=None, metavar="GB",
                        help="GPU memory the models may hold at once; idle models move to the CPU to stay under it "
                             "(default: the device's free memory; env UNISON_VRAM_BUDGET)")  # fmt: skip
    parser.add_argument("--compile", dest="setting_compile", action="store_const", const=True, default=None,
                        help="torch.compile the transformer's repeated blocks (slow first call) (env UNISON_COMPILE)")  # fmt: skip
    parser.add_argument("--fast", dest="setting_fast", action="store_const", const=True, default=None,
                        help="step caching (first-block cache): faster, slightly different output (env UNISON_FAST)")  # fmt: skip


def add_session_arguments(parser: argparse.ArgumentParser, *, thread_help: str) -> None:
    parser.add_argument("--thread", help=thread_help)
    parser.add_argument("--confirm", action="store_true", default=None,
                        help="show each generation's plan and ask to accept, change or cancel it")  # fmt: skip


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
    from ..session import Session

    return Session(settings, thread=thread, tools=tools, confirm=confirm)


class ProgressView:
    """Turns session events into a rich display: a spinner for loading, a bar for denoising steps, streamed
    answer tokens. On a non-terminal console (a pipe) it shows nothing, so scripted output stays clean."""

    def __init__(self, console, *, stream_tokens: bool = True) -> None:
        self.console = console
        self.live = console.is_terminal
        self.stream_tokens = stream_tokens and console.is_terminal
        self.progress = None
        self.status_task = None
        self.step_task = None
        self.streamed = False

    def __enter__(self) -> ProgressView:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=self.console, transient=True,
            )  # fmt: skip
            self.progress.start()
            self.status_task = self.progress.add_task("planning", total=None)
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
        if kind == "status":
            self.progress.update(self.status_task, description=event["text"])
        elif kind == "node":
            self.progress.update(self.status_task, description=f"{event['node']}")
        elif kind == "step":
            if self.step_task is None:
                self.progress.update(self.status_task, visible=False)
                self.step_task = self.progress.add_task(f"generating {event.get('task', '')}", total=event["total"])
            self.progress.update(self.step_task, completed=event["step"], total=event["total"])
            if event["step"] >= event["total"]:
                self.progress.remove_task(self.step_task)
                self.step_task = None
                self.progress.update(self.status_task, visible=True, description="writing outputs")


def print_turn(console, result, *, answer_streamed: bool = False) -> None:
    """The human view of a turn: answers, output files with their ids, notes, errors."""
    from rich.markup import escape

    from .. import present

    for step in result.results:
        if step.get("status") == "cancelled":
            console.print(f"[yellow]cancelled[/] {escape(step.get('request', ''))}")
            continue
        if step.get("outputs"):
            console.print(f"[bold green]{escape(step['task'])}[/] {escape(step.get('answer', ''))}")
            for path in step.get("prepared", []):
                console.print(f"  prepared {escape(path)}", soft_wrap=True)
            for path in step["outputs"]:
                console.print(f"  {escape(path)}", soft_wrap=True)
            for note in present.step_notes(step, result.demo):
                console.print(f"  [dim]note: {escape(note)}[/]", soft_wrap=True)
        elif not answer_streamed:
            console.print(escape(step.get("answer", "")), highlight=False, soft_wrap=True)
    for err in result.errors:
        console.print(f"[bold red]error[/] (step {err['step'] + 1}: {escape(err['request'])}): {escape(err['error'])}",
                      soft_wrap=True)  # fmt: skip
    if result.demo and result.results:
        console.print("[dim](demo: tiny random-weight models, not the real weights: outputs are noise, "
                      "answers gibberish)[/]", soft_wrap=True)  # fmt: skip


def ask_confirmations(session, result, console, read_line) -> Any:
    """While the turn waits for confirmation: show the plan and read accept / k=v changes / cancel."""
    from rich.markup import escape

    from ..plan import Plan
    from .plan_cmd import render_plan

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
