"""`unison web [--host H] [--port P] [--share] [--thread NAME] [--demo]`: the chat in the browser (Gradio).

The same Session core as ``unison chat``: uploads, streamed answers, progress and Stop, threads (the CLI's own
SQLite threads), plan review, settings. Needs the ``web`` extra (``pip install ".[web]"``).
"""

from __future__ import annotations

import argparse

from unison_agent.contract.errors import UnisonError

NAME = "web"
HELP = "the chat in a browser (Gradio): uploads, inline images and videos, threads, plan review, Stop"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from unison_agent.cli.agent_view import add_generation_setting_arguments

    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    parser.add_argument("--thread", help="thread every new page opens on (default: a fresh thread per page)")
    parser.add_argument(
        "--confirm",
        dest="setting_confirm",
        action="store_const",
        const=True,
        default=None,
        help="start with 'review plans' switched on",
    )
    add_generation_setting_arguments(parser)


def run(args: argparse.Namespace, settings, console) -> int:
    try:
        from unison_agent.web.app import launch
    except ImportError as exc:
        raise UnisonError(f'the web UI needs Gradio ({exc.name} is missing): pip install ".[web]"') from None

    def ready(url: str) -> None:
        demo = " (demo models: outputs are noise)" if settings.demo else ""
        console.print(f"unison web on {url}{demo} — Ctrl+C to stop", markup=False, highlight=False, soft_wrap=True)

    launch(settings, host=args.host, port=args.port, share=args.share, thread=args.thread, on_ready=ready)
    return 0
