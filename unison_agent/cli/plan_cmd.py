"""`unison plan [--planner rules] [--json] "PROMPT"`: print the plan a request would run, without running it
(``Session.plan``, the preparation ``run`` uses)."""

from __future__ import annotations

import argparse
import json

from unison_agent.cli.agent_view import add_override_arguments, overrides_from_args, render_plan

NAME = "plan"
NEEDS_MODELS = False
HELP = "show the plan for a request (task, files and their roles, size, frames) without running it"


SETTINGS = ("home", "planner", "device", "dtype", "qwen", "unison", "planner_merged", "demo")
"""The setting flags this command uses."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help='the request; name files as ###path### or @path, e.g. "animate ###cat.png###"')
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the plan contract as one JSON object (a list of them for a compound request)",
    )
    parser.add_argument(
        "--thread", default=None, help="resolve references (it, #3, the last video) against this conversation thread"
    )
    add_override_arguments(parser)


def run(args: argparse.Namespace, settings, console) -> int:
    from unison_agent.core.session import Session

    checkpointer = None
    if not args.thread:  # nothing to resolve against: a throwaway thread, the threads database is not touched
        from langgraph.checkpoint.memory import InMemorySaver

        checkpointer = InMemorySaver()
    with Session(settings, thread=args.thread or "plan", checkpointer=checkpointer) as session:
        steps = session.plan(args.prompt, overrides=overrides_from_args(args))
    if args.json:
        shown = [step_json(s) for s in steps]
        print(json.dumps(shown[0] if len(shown) == 1 else shown, ensure_ascii=False))
        return 0
    for step in steps:
        if len(steps) > 1:
            console.print(f"[bold]step {step.index + 1}[/]: {step.text}")
        console.print(render_step(step))
    return 0


def step_json(step) -> dict:
    """One step as JSON: the plan contract (plus the annotator runs it needs and notes), or an annotation."""
    if step.plan is None:
        job = step.jobs[0]
        return {"task": f"annotate:{job.kind}", "annotation": job.to_json(), "notes": step.notes}
    return {**step.plan.to_json(), "annotations": [j.to_json() for j in step.jobs], "notes": step.notes}


def render_step(step):
    if step.plan is None:
        job = step.jobs[0]
        return f"annotate: {job.kind} of {job.input}" + (f" (target: {job.target})" if job.target else "")
    table = render_plan(step.plan)
    for job in step.jobs:
        table.add_row(
            "first", f"{job.kind} annotator on {job.input}" + (f" (target: {job.target})" if job.target else "")
        )
    for note in step.notes:
        table.add_row("note", note)
    return table
