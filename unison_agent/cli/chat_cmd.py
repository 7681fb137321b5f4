"""`unison chat [--thread NAME] [--confirm] [--demo]`: a conversation; works interactively and from a pipe.

Attach files with ``###path###`` or ``@path``; refer to earlier media as "it", "the last video", "#3".
Slash commands: /help /plan [TEXT] /history /media /undo /retry /new [NAME] /threads /quit.

Ctrl-C during a turn stops that turn at its next step (it is kept in /history as cancelled, /retry runs it
again); a second Ctrl-C leaves chat. A turn a killed process left open shows in /history as interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from unison_agent.cli.agent_view import (
    ProgressView,
    add_generation_setting_arguments,
    add_override_arguments,
    add_session_arguments,
    ask_confirmations,
    open_session,
    overrides_from_args,
    print_turn,
)

NAME = "chat"
HELP = "chat: ask about text, images and videos, create and edit them, across turns (persistent threads)"

SLASH_HELP = """\
/help            this help
/plan [TEXT]     the plans TEXT would run (nothing runs); alone: the plan of the last (or pending) generation
/history         the turns of this thread
/media           the files of this thread with their ids (#1, #2, ...)
/undo            forget the last turn
/retry           run the last turn again (after Ctrl-C, a stopped process, a cancel or an error)
/new [NAME]      start a new thread (named NAME, or a fresh name)
/threads         list the stored threads
/quit            leave (the thread is saved; continue later with --thread NAME)
Attach files with ###path### or @path. Refer to earlier files as "it", "the last video", "the first image", "#3".
Compound requests run step by step: "make a picture of a fox, then turn it into a video"."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_session_arguments(parser, thread_help="thread to continue or start (default: 'chat')")
    add_override_arguments(parser)
    add_generation_setting_arguments(parser)


def run(args: argparse.Namespace, settings, console) -> int:
    from rich.markup import escape

    session = open_session(settings, thread=args.thread or "chat", confirm=args.confirm, console=console)
    interactive = sys.stdin.isatty()
    read_line = _reader(console, interactive)
    overrides = overrides_from_args(args)
    failures = 0
    if interactive:
        demo = " [dim](demo models)[/]" if session.settings.demo else ""
        console.print(f"[bold]unison chat[/] on thread [cyan]{escape(session.thread)}[/]{demo} — /help for commands")
    try:
        while True:
            line = read_line("[bold]you>[/] " if interactive else "")
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            if line.lower() == "/retry":
                if not session.history():
                    console.print("nothing to retry yet")
                    continue
                line = session.history()[-1]["request"]
                console.print(f"[dim]retrying:[/] {escape(line)}")
            elif line.startswith("/"):
                if _slash(line, session, console) == "quit":
                    break
                continue
            try:
                with ProgressView(console) as view, cancel_on_interrupt(session, console):
                    result = session.send(line, overrides=overrides, on_event=view)
            except KeyboardInterrupt:  # the second Ctrl-C: leave, closing the turn as interrupted
                session.recover()
                console.print("interrupted; the thread is saved (/retry in a later chat runs the turn again)")
                break
            streamed = view.streamed
            if result.pending:
                result = ask_confirmations(session, result, console, read_line)
                streamed = False
            print_turn(console, result, answer_streamed=streamed)
            failures += 0 if result.ok else 1
    finally:
        session.close()
    return 1 if failures and not interactive else 0


@contextmanager
def cancel_on_interrupt(session, console) -> Iterator[None]:
    """While a turn runs: the first Ctrl-C cancels it cleanly (``Session.cancel``), a second one raises
    KeyboardInterrupt. Outside the main thread (no signals there) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)
        session.cancel()
        console.print("\n[yellow]stopping this turn at its next step[/] (Ctrl-C again to quit)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _reader(console, interactive: bool):
    def read(prompt: str):
        try:
            if interactive:
                return console.input(prompt)
            line = sys.stdin.readline()
            return None if line == "" else line
        except EOFError:
            return None

    return read


def _slash(line: str, session, console) -> str | None:
    from rich.markup import escape
    from rich.table import Table

    from unison_agent.media import store as media_store

    cmd, _, rest = line.partition(" ")
    cmd = cmd.lower()
    if cmd in ("/quit", "/exit", "/q"):
        return "quit"
    if cmd == "/help":
        console.print(SLASH_HELP, markup=False, highlight=False)
    elif cmd == "/plan" and rest.strip():  # plan TEXT on this thread ("it", "#3" resolve), run nothing
        from unison_agent.cli.plan_cmd import render_step
        from unison_agent.contract.errors import UnisonError

        try:
            steps = session.plan(rest.strip())
        except UnisonError as exc:
            console.print(f"[bold red]error[/] {escape(str(exc))}", soft_wrap=True)
            return None
        for step in steps:
            if len(steps) > 1:
                console.print(f"[bold]step {step.index + 1}[/]: {escape(step.text)}", soft_wrap=True)
            console.print(render_step(step))
    elif cmd == "/plan":
        plan = session.last_plan()
        if plan is None:
            console.print("no plan yet")
        else:
            from unison_agent.cli.agent_view import render_plan
            from unison_agent.contract.plan import Plan

            console.print(render_plan(Plan.from_json(plan)))
    elif cmd == "/history":
        history = session.history()
        if not history:
            console.print("no turns yet")
        table = Table("turn", "request", "result", show_lines=False) if history else None
        for turn in history:
            done = ", ".join(r["task"] for r in turn["results"]) or "-"
            if turn["errors"]:
                done += f" [red](error: {escape(turn['errors'][0]['error'])})[/]"
            table.add_row(str(turn["turn"]), escape(turn["request"]), done)
        if table is not None:
            console.print(table)
    elif cmd == "/media":
        lines = media_store.describe(session.media())
        console.print("\n".join(lines) if lines else "no media yet", markup=False, highlight=False, soft_wrap=True)
    elif cmd == "/undo":
        console.print("forgot the last turn" if session.undo() else "nothing to undo")
    elif cmd == "/new":
        from unison_agent.cli.agent_view import default_thread

        session.switch(rest.strip() or default_thread("chat"))
        console.print(f"new thread [cyan]{escape(session.thread)}[/]")
    elif cmd == "/threads":
        names = session.threads()
        console.print("\n".join(names) if names else "no threads yet", markup=False, highlight=False)
    else:
        console.print(f"unknown command {escape(cmd)}; /help lists the commands")
    return None
