"""`unison eval plans CASES.jsonl [--planner rules|qwen|unison|auto] [--json]`: how well a planner plans."""

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
    parser.add_argument("cases", help="a JSONL file of cases (the project ships evals/plan_cases.jsonl)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--media", default=None, help="folder for the synthetic media the cases name (default: a temporary folder)"
    )


def run(args: argparse.Namespace, settings, console) -> int:
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
