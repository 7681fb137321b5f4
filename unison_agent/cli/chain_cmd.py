"""`unison chain FILE [--json] [--thread NAME] [--keep-going] [--demo]`: run a scripted list of turns on one thread.

The file is YAML or JSON: either a list of turns, or an object ``{"thread": ..., "defaults": {...}, "turns": [...]}``.
A turn is a string (the request) or an object with ``request`` and per-turn overrides: ``seed``, ``steps``,
``guidance``, ``shift``, ``width``, ``height``, ``num_frames``, ``fps``, ``frame_anchor``, ``control``, ``target``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from unison_agent.cli.agent_view import ProgressView, add_generation_setting_arguments, default_thread, open_session
from unison_agent.contract.errors import UnisonError
from unison_agent.contract.plan import GENERATION_FIELDS, PLAN_FIELDS
from unison_agent.contract.settings import check_overrides

NAME = "chain"
HELP = "run a YAML/JSON list of turns on one thread (per-turn seed/steps/size), with a summary table"

TURN_KEYS = (*GENERATION_FIELDS, *(f for f in PLAN_FIELDS if f not in ("task", "prompt")))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a .yaml/.yml/.json file: a list of turns (see examples/chain.yaml)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--thread", help="thread name (default: the file's 'thread', else a new one)")
    parser.add_argument("--keep-going", action="store_true", help="run the remaining turns after a failed one")
    add_generation_setting_arguments(parser)


def load_chain(path: str | Path) -> tuple[str | None, list[dict[str, Any]]]:
    """(thread name or None, turns as {"request": str, "overrides": {...}}); UnisonError on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise UnisonError(f"{path}: no such chain file")
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UnisonError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    thread, defaults = None, {}
    if isinstance(data, dict):
        thread = data.get("thread")
        defaults = data.get("defaults") or {}
        data = data.get("turns")
        if not isinstance(defaults, dict):
            raise UnisonError(
                f"{path}: 'defaults' must be a mapping of field: value (e.g. {{seed: 42}}), "
                f"got {type(defaults).__name__}"
            )
    if not isinstance(data, list) or not data:
        raise UnisonError(f"{path}: expected a non-empty list of turns (or an object with a 'turns' list)")
    _check_keys(defaults, path, "defaults")
    turns = []
    for i, item in enumerate(data, 1):
        if isinstance(item, str):
            item = {"request": item}
        if not isinstance(item, dict) or not isinstance(item.get("request", item.get("prompt")), str):
            raise UnisonError(f"{path}: turn {i} must be a string or an object with a 'request' string")
        request = item.get("request", item.get("prompt"))
        extra = {k: v for k, v in item.items() if k not in ("request", "prompt")}
        _check_keys(extra, path, f"turn {i}")
        overrides = check_overrides({**defaults, **extra}, f"{path}: turn {i}")
        turns.append({"request": request, "overrides": overrides})
    return (str(thread) if thread else None), turns


def _check_keys(values: dict, path: Path, where: str) -> None:
    unknown = sorted(set(map(str, values)) - set(TURN_KEYS))
    if unknown:
        raise UnisonError(f"{path}: {where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(TURN_KEYS)}")


def run(args: argparse.Namespace, settings, console) -> int:
    from rich.markup import escape
    from rich.table import Table

    file_thread, turns = load_chain(args.file)
    thread = args.thread or file_thread or default_thread("chain")
    session = open_session(settings, thread=thread, confirm=False, console=console)
    rows, failed = [], False
    view_console = console
    if args.json:
        from unison_agent.cli import make_console

        view_console = make_console(stderr=True)
    try:
        for i, turn in enumerate(turns, 1):
            if failed and not args.keep_going:
                rows.append(
                    {
                        "turn": i,
                        "request": turn["request"],
                        "status": "skipped",
                        "task": None,
                        "answer": "",
                        "outputs": [],
                        "seconds": 0.0,
                        "errors": [],
                    }
                )
                continue
            started = time.perf_counter()
            with ProgressView(view_console, stream_tokens=False) as view:
                result = session.send(turn["request"], overrides=turn["overrides"], on_event=view)
            row = result.to_json()
            row.update(
                turn=i,
                request=turn["request"],
                seconds=round(time.perf_counter() - started, 3),
                status="ok" if result.ok else "failed",
                overrides=turn["overrides"],
            )
            rows.append(row)
            failed = failed or not result.ok
    finally:
        session.close()
    if args.json:
        print(
            json.dumps(
                {"thread": thread, "ok": not failed, "demo": session.settings.demo, "turns": rows},
                ensure_ascii=False,
                default=str,
            )
        )
        return 1 if failed else 0
    table = Table(title=f"chain {escape(str(args.file))} on thread {escape(thread)}", title_justify="left")
    for col in ("#", "request", "task", "result", "s", "status"):
        table.add_column(col, overflow="fold")
    for row in rows:
        result = "\n".join(Path(p).name for p in row["outputs"]) or (row["answer"] or "")[:80]
        if row.get("errors"):
            result = row["errors"][0]["error"]
        style = {"ok": "green", "failed": "red", "skipped": "yellow"}[row["status"]]
        table.add_row(
            str(row["turn"]),
            escape(row["request"]),
            escape(str(row["task"] or "-")),
            escape(result),
            f"{row['seconds']:.2f}",
            f"[{style}]{row['status']}[/]",
        )
    console.print(table)
    out_dirs = sorted({str(Path(p).parent) for row in rows for p in row["outputs"]})
    if out_dirs:
        console.print(f"outputs in {escape(', '.join(out_dirs))}", soft_wrap=True)
    if session.settings.demo:
        console.print("[dim](demo: tiny random-weight models; outputs are noise)[/]")
    return 1 if failed else 0
