"""`unison run "PROMPT" [--json] [--thread NAME] [--confirm] [--demo]`: one request, all its steps, then exit."""

from __future__ import annotations

import argparse
import json

from unison_agent.cli.agent_view import (
    ProgressView,
    add_generation_setting_arguments,
    add_override_arguments,
    add_session_arguments,
    ask_confirmations,
    default_thread,
    open_session,
    overrides_from_args,
    print_turn,
)

NAME = "run"
HELP = "run one request (understand, create or edit; compound requests run step by step) and print the result"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help='the request; attach files as ###path### or @path, e.g. "animate @cat.png"')
    parser.add_argument(
        "--json", action="store_true", help='print {"task", "answer", "outputs", "plan", ...} as one JSON object'
    )
    add_session_arguments(parser, thread_help="conversation thread to continue (default: a new one per run)")
    add_override_arguments(parser)
    add_generation_setting_arguments(parser)


def run(args: argparse.Namespace, settings, console) -> int:
    thread = args.thread or default_thread("run")
    session = open_session(settings, thread=thread, confirm=args.confirm, console=console)
    try:
        view_console = console if not args.json else _stderr_console()
        with ProgressView(view_console, stream_tokens=not args.json) as view:
            result = session.send(args.prompt, overrides=overrides_from_args(args), on_event=view)
        streamed = view.streamed
        if result.pending:
            if args.json:
                from unison_agent.contract.errors import UnisonError

                raise UnisonError("--confirm needs a person to answer; it cannot be combined with --json")
            result = ask_confirmations(session, result, console, _read_line(console))
            streamed = False
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False, default=str))
        else:
            print_turn(console, result, answer_streamed=streamed)
        return 0 if result.ok else 1
    finally:
        session.close()


def _stderr_console():
    from unison_agent.cli import make_console

    return make_console(stderr=True)


def _read_line(console):
    def read(prompt: str):
        try:
            return console.input(prompt)
        except EOFError:
            return None

    return read
