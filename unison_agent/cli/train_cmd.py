"""`unison train planner [DATA.jsonl] [--from-threads [--thread NAME]] -o ADAPTER_DIR` and `unison train projector
DATA.jsonl -o projector.pth`.

The planner: PEFT LoRA fine-tuning on planning cases (the ``eval plans`` format) and, with ``--from-threads``, on
the plans people changed at plan review (:mod:`unison_agent.training.from_threads`), from the configured adapter
(``--from``, default ``--unison`` when it is there) or a fresh LoRA (``--fresh``), with ``eval plans`` on the
validation split before and after. The projector: Wan's flow-matching loss with the planner and Wan2.1-VACE
frozen, only the projector's weights trained.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "train"
HELP = "train the planning LoRA on your own cases and corrections, or the projector on (prompt, image/clip) pairs"

SETTINGS = ("home", "device", "dtype", "qwen", "unison", "projector", "vace", "demo")
"""The setting flags this command uses."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["planner", "projector"], help="what to train")
    parser.add_argument(
        "data",
        nargs="?",
        default=None,
        help="a JSONL file of cases (planner: the `eval plans` case format; projector: "
        '{"prompt", "target"} with target an image or clip path)',
    )
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        help="planner: the adapter directory to write; projector: the projector.pth file to write",
    )
    parser.add_argument(
        "--from",
        dest="start",
        default=None,
        help="planner: the adapter to start from (default: --unison when present, else a fresh LoRA); "
        "projector: the projector.pth to start from (default: the configured one when present)",
    )
    parser.add_argument("--fresh", action="store_true", help="start from fresh weights, not the configured ones")
    parser.add_argument("--epochs", type=float, default=3.0, help="passes over the training split (default 3)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps (overrides --epochs)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (planner 2e-4, projector 1e-4)")
    parser.add_argument("--batch-size", type=int, default=4, help="cases per micro-batch (default 4)")
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step (default 1)")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="share of the cases held out for validation (default 0.1)"
    )
    parser.add_argument("--val", default=None, help="a separate JSONL file of validation cases (instead of a split)")
    parser.add_argument("--save-every", type=int, default=50, help="write a checkpoint every N steps (default 50)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint under --out")
    parser.add_argument("--seed", type=int, default=0, help="split, order and initialisation seed (default 0)")
    parser.add_argument("--lora-r", type=int, default=16, help="fresh LoRA rank (default 16)")
    parser.add_argument("--lora-alpha", type=int, default=32, help="fresh LoRA alpha (default 32)")
    parser.add_argument(
        "--no-eval",
        action="store_true",
        help="planner: skip `eval plans` on the validation split; projector: skip the held-fixed loss before/after",
    )
    parser.add_argument("--media", default=None, help="folder for the synthetic media the cases name")
    parser.add_argument(
        "--from-threads",
        action="store_true",
        help="planner: also train on every plan a person changed at plan review (--confirm, the web form), "
        "read from the threads database, with the accepted plan as the target",
    )
    parser.add_argument("--thread", default=None, help="with --from-threads: only this thread's reviews")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="with --from-threads: leave out (and name) reviews whose files are gone, instead of stopping",
    )


def run(args: argparse.Namespace, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError

    if args.batch_size < 1 or args.grad_accum < 1:
        raise UnisonError("--batch-size and --grad-accum must be at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        raise UnisonError("--max-steps must be at least 1")
    if (args.thread or args.skip_missing) and not args.from_threads:
        raise UnisonError("--thread and --skip-missing choose reviews: give them with --from-threads")
    if args.what == "planner":
        return _planner(args, settings, console)
    if args.from_threads:
        raise UnisonError("--from-threads trains the planner (plan reviews); the projector trains on DATA.jsonl")
    return _projector(args, settings, console)


def _planner(args, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError
    from unison_agent.models.qwen_loader import missing_files
    from unison_agent.training.data import load_examples
    from unison_agent.training.planner import PlannerTrainConfig
    from unison_agent.training.planner_run import default_media, figures, train_planner

    if args.data is None and not args.from_threads:
        raise UnisonError("give a DATA.jsonl file of cases, or --from-threads to learn from plan reviews")
    start: Path | None = None
    if args.start:
        start = Path(args.start).expanduser().resolve()
        if missing_files(start, "adapter"):
            missing = ", ".join(missing_files(start, "adapter"))
            raise UnisonError(f"--from {start}: not a LoRA adapter directory (missing {missing})")
    elif not args.fresh:
        configured = settings.checkpoint("unison")
        start = configured if not missing_files(configured, "adapter") else None
    out = Path(args.out).expanduser().resolve()
    media, tmp = default_media(Path(args.media) if args.media else None)
    try:
        examples, sources = _thread_examples(args, settings, console) if args.from_threads else ([], {})
        if args.data:
            cases = load_examples(args.data, media)
            examples += cases
            sources["data"] = {"file": str(Path(args.data).resolve()), "cases": len(cases)}
        if not examples:
            raise UnisonError("nothing to train on: the data file has no cases")
        val = load_examples(args.val, media) if args.val else None
        cfg = PlannerTrainConfig(
            out=out,
            start=start,
            epochs=args.epochs,
            max_steps=args.max_steps,
            lr=args.lr or 2e-4,
            batch_size=args.batch_size,
            grad_accum=args.grad_accum,
            save_every=args.save_every,
            seed=args.seed,
            resume=args.resume,
            lora_r=args.lora_r,
            lora_alpha=args.lora_alpha,
        )
        run_ = train_planner(
            settings,
            examples,
            cfg,
            media,
            val_fraction=args.val_fraction,
            val_examples=val,
            run_eval=not args.no_eval,
            console=console,
            sources=sources,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    _print_figures(console, figures(run_.before), figures(run_.after), start)
    console.print(f"adapter written to {out}; use it with --unison {out}")
    return 0


def _thread_examples(args, settings, console) -> tuple[list, dict]:
    """The examples the threads' plan reviews give, said aloud: how many, and each review left out and why."""
    from rich.markup import escape

    from unison_agent.training.from_threads import thread_examples

    found = thread_examples(settings.threads_db, args.thread, skip_missing=args.skip_missing)
    console.print(
        f"from the threads ({settings.threads_db}): {found.reviewed} reviewed plan(s), {found.changed} changed; "
        f"{len(found.examples)} example(s)"
    )
    for why in found.left_out:
        console.print(f"  left out: {escape(why)}")
    sources = {
        "threads": {
            "db": str(settings.threads_db),
            "thread": args.thread,
            "reviewed": found.reviewed,
            "changed": found.changed,
            "examples": [{"id": e.id, "source": e.case["source"], "target": e.target} for e in found.examples],
            "left_out": list(found.left_out),
        }
    }
    return list(found.examples), sources


def _print_figures(console, before, after, start) -> None:
    if before is None or after is None:
        return
    from rich.table import Table

    table = Table(
        title=f"eval plans --planner unison on the validation split ({after['cases']} cases)", title_justify="left"
    )
    table.add_column("")
    table.add_column("starting adapter" if start is not None else "fresh LoRA (untrained)", justify="right")
    table.add_column("trained", justify="right")
    for label, key in (
        ("task right", "task_right"),
        ("all fields right", "all_fields_right"),
        ("did not decode (rules fallback)", "fallbacks"),
    ):
        table.add_row(
            label,
            f"{before[key]}/{before['cases']} ({before[key] / max(1, before['cases']):.1%})",
            f"{after[key]}/{after['cases']} ({after[key] / max(1, after['cases']):.1%})",
        )
    console.print(table)


def _projector(args, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError
    from unison_agent.training.projector import ProjectorTrainConfig, train_projector

    if args.data is None:
        raise UnisonError("give a DATA.jsonl file of (prompt, target image or clip) pairs")
    start = None
    if args.start:
        start = Path(args.start).expanduser().resolve()
    elif not args.fresh and settings.projector_path().is_file():
        start = settings.projector_path()
    cfg = ProjectorTrainConfig(
        out=Path(args.out).expanduser().resolve(),
        start=start,
        epochs=args.epochs,
        max_steps=args.max_steps,
        lr=args.lr or 1e-4,
        batch_size=1,
        grad_accum=args.grad_accum,
        save_every=args.save_every,
        seed=args.seed,
        resume=args.resume,
    )
    result = train_projector(settings, Path(args.data), cfg, console=console, evaluate=not args.no_eval)
    first, last = result.losses[0], result.losses[-1]
    console.print(f"{len(result.losses)} step(s): training loss (random timesteps) {first:.4f} -> {last:.4f}")
    if result.held_fixed is not None:
        h = result.held_fixed
        change = (h["after"] - h["before"]) / h["before"] if h["before"] else 0.0
        console.print(
            f"loss at fixed timesteps and noise on {h['pairs']} pair(s) x {h['draws']} draws: "
            f"{h['before']:.4f} -> {h['after']:.4f} ({change:+.1%})"
        )
    console.print(f"projector written to {cfg.out}; use it with --projector {cfg.out}")
    return 0
