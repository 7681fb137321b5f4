"""`unison plan [--planner rules] [--json] "PROMPT"`: print the plan a request would run, without running it."""

from __future__ import annotations

import argparse
import json

NAME = "plan"
HELP = "show the plan for a request (task, files and their roles, size, frames) without running it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help='the request; name files as ###path### or @path, e.g. "animate ###cat.png###"')
    parser.add_argument("--json", action="store_true", help="print the plan contract as one JSON object")
    parser.add_argument("--no-check", action="store_true", help="do not open the mentioned files (roles by wording only)")


def run(args: argparse.Namespace, settings, console) -> int:
    from ..planners import get_planner
    from ..planners.base import Request

    request = Request.parse(args.prompt, check=not args.no_check)
    plan = get_planner(settings.planner, settings).plan(request)
    if args.json:
        print(json.dumps(plan.to_json(), ensure_ascii=False))
        return 0
    console.print(render_plan(plan))
    return 0


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
