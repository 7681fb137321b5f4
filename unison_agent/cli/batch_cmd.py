"""`unison batch prompts.jsonl -o OUT/ [--workers N] [--gpus-per-worker G] [--address ray://...]`: many requests
on Ray workers that load the models once each; resumable; exits 1 if any line failed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "batch"
HELP = "run one request per JSONL line on Ray workers (resumable; writes OUT/results.jsonl); needs the scale extra"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "jsonl", help='input: one JSON object per line, {"request", "files", "overrides", "seed", "id"}'
    )
    parser.add_argument("-o", "--output", required=True, help="output folder (outputs/, items/*.json, results.jsonl)")
    parser.add_argument(
        "--workers", type=int, default=1, help="Ray actors, each with its own loaded models (default 1)"
    )
    parser.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs each worker holds (default 0: CPU)")
    parser.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs (torch threads) per worker (default 1)")
    parser.add_argument("--address", help="an existing Ray cluster (ray://host:10001 or auto); default: start Ray here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError

    try:
        from unison_agent.serve.batch import run_batch
    except ImportError as exc:  # ray / tqdm missing
        raise UnisonError(f"batch needs Ray: pip install 'unison-agent[scale]' ({exc})") from None
    if args.workers < 1:
        raise UnisonError("--workers must be at least 1")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UnisonError(
            f"-o {args.output} is a file; give a folder (it will hold outputs/, items/ and results.jsonl)"
        )
    if (out / "results.jsonl").resolve() == Path(args.jsonl).resolve():
        raise UnisonError(
            f"-o {args.output} would overwrite the input {args.jsonl} (its results.jsonl); choose another output folder"
        )
    summary = run_batch(
        Path(args.jsonl),
        Path(args.output),
        settings,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        address=args.address,
        progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False, default=str))
    else:
        console.print(
            f"{summary.done} done ({summary.skipped} from an earlier run), {summary.failed} failed, "
            f"{summary.per_item:.2f} s per item; results: {summary.results}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for f in summary.failures:
            console.print(
                f"failed: line {f['line']}: {f['errors'][0]['error']}", highlight=False, markup=False, soft_wrap=True
            )
    return 1 if summary.failed else 0
