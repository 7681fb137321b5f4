"""`unison eval plans CASES.jsonl [--planner rules|qwen|unison|auto] [--json]`: how well a planner plans.

`unison eval plans --from-threads [--thread NAME] [--json]`: how often the planner's first plan was accepted
unchanged at plan review (the threads' own records, :mod:`unison_agent.core.reviews`), overall, per planner and
per field changed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

NAME = "eval"
HELP = "evaluate planning on a set of cases (per-field accuracy, task confusion, failing cases, latency)"


SETTINGS = ("home", "planner", "device", "dtype", "qwen", "unison", "planner_merged", "demo")
"""The setting flags this command uses."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["plans"], help="what to evaluate (plans: the planner backend)")
    parser.add_argument(
        "cases", nargs="?", default=None, help="a JSONL file of cases (the project ships evals/plan_cases.jsonl)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--media", default=None, help="folder for the synthetic media the cases name (default: a temporary folder)"
    )
    parser.add_argument(
        "--from-threads",
        action="store_true",
        help="instead of cases: how often the first plan was accepted unchanged at plan review (--confirm, the "
        "web form), from the threads database",
    )
    parser.add_argument("--thread", default=None, help="with --from-threads: only this thread's reviews")


def run(args: argparse.Namespace, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError

    if args.from_threads:
        if args.cases:
            raise UnisonError("give CASES.jsonl or --from-threads, not both")
        return _from_threads(args, settings, console)
    if args.thread:
        raise UnisonError("--thread chooses the reviews of --from-threads; give it with --from-threads")
    if not args.cases:
        raise UnisonError("give a CASES.jsonl file (the project ships evals/plan_cases.jsonl), or --from-threads")
    from unison_agent.core.evaluation import evaluate, load_cases, make_media, render
    from unison_agent.graphs.toolbox import default_tools

    cases = load_cases(args.cases)
    with tempfile.TemporaryDirectory(prefix="unison-eval-") as tmp:
        media = make_media(Path(args.media) if args.media else Path(tmp))
        report = evaluate(cases, settings=settings, planner=default_tools().planner(settings), media=media)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        render(report, console)
    return 0


def _from_threads(args, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError
    from unison_agent.core.reviews import HOW_TO_REVIEW, read_reviews, review_figures

    reviews = read_reviews(settings.threads_db, args.thread)
    where = f"{settings.threads_db}" + (f" (thread {args.thread!r})" if args.thread else "")
    if not reviews:
        raise UnisonError(f"no reviewed plans in {where}; {HOW_TO_REVIEW}")
    figures = review_figures(reviews)
    if args.json:
        print(json.dumps({"db": str(settings.threads_db), "thread": args.thread, **figures.to_json()}))
        return 0
    _render(figures, where, console)
    return 0


def _render(figures, where: str, console) -> None:
    from rich.table import Table

    def cell(n: int) -> str:
        return f"{n} ({figures.share(n):.1%})"

    console.print(
        f"{figures.reviewed} reviewed plan(s) in {where}; the first plan was accepted unchanged in "
        f"{cell(figures.accepted_unchanged)}"
    )
    table = Table(title="plan review decisions", title_justify="left")
    for name in ("planner", "reviewed", "accepted unchanged", "changed, then run", "cancelled"):
        table.add_column(name, justify="left" if name == "planner" else "right")
    rows = [(p, d) for p, d in sorted(figures.planners.items())]
    if len(rows) > 1:
        rows.append(("[bold]all[/]", figures.decisions))
    for planner, d in rows:
        n = sum(d.values())
        table.add_row(
            planner,
            str(n),
            *(f"{d.get(k, 0)} ({d.get(k, 0) / n:.1%})" for k in ("accepted", "changed", "cancelled")),
        )
    console.print(table)
    if figures.fields:
        fields = Table(title="fields reviewers changed (share of reviewed plans)", title_justify="left")
        fields.add_column("field")
        fields.add_column("changed", justify="right")
        fields.add_column("kept as planned", justify="right")
        for name, n in figures.fields.items():
            fields.add_row(name, cell(n), f"{1 - figures.share(n):.1%}")
        console.print(fields)
