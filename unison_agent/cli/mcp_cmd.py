"""`unison mcp [--demo] [--http PORT] [--allow DIR]...`: serve the agent to MCP clients (stdio by default)."""

from __future__ import annotations

import argparse

NAME = "mcp"
HELP = "serve the agent as an MCP server (tools unison_run / unison_plan / unison_annotate) over stdio or HTTP"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio"
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder the tools may read (repeatable; adds to env UNISON_ALLOWED_DIRS)",
    )
    parser.add_argument("--workdir", help="where the server keeps its threads and outputs (default <home>/tool)")


def run(args: argparse.Namespace, settings, console) -> int:
    from unison_agent.serve.langchain_tool import UnisonTool
    from unison_agent.serve.mcp import build_server

    if args.allow:
        from pathlib import Path

        extra = tuple(Path(d).expanduser().resolve() for d in args.allow)
        settings = settings.replace(allowed_dirs=(*settings.allowed_dirs, *extra))
    tool = UnisonTool(settings=settings, workdir=args.workdir, default_thread="mcp")
    server = build_server(tool, port=args.http or 8000)
    try:
        if args.http:
            console.print(f"unison MCP server on http://127.0.0.1:{args.http}/mcp", highlight=False, markup=False)
            server.run("streamable-http")
        else:
            server.run("stdio")  # stdout is the protocol: print nothing
    finally:
        tool.close()
    return 0
