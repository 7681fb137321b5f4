"""The agent as an MCP server (the official ``mcp`` SDK's FastMCP), for any MCP client::

    from unison_agent import Settings, UnisonTool
    from unison_agent.mcp_server import build_server

    server = build_server(UnisonTool(settings=Settings.resolve({"allowed_dirs": ["/data/media"]})))
    server.run("stdio")          # or "streamable-http" (build_server(..., port=8765))

Tools: ``unison_run`` (the answer as text, images as image content, videos as resource links, the plan and the
outputs as structured content), ``unison_plan`` (the plans a request would run, nothing runs) and
``unison_annotate`` (one annotator on one file). Every file the server makes is a resource
``unison://outputs/<path under the outputs folder>`` (listed, and readable by the client).

The file boundary is :class:`~unison_agent.langchain_tool.UnisonTool`'s, reused as is: files only inside
``allowed_dirs`` or the tool's own outputs folder, the tool's own threads database and workdir, its ``guard`` on
every path a step resolves. A refused or failing call is an MCP error result (``isError``); the server stays up.
Calls run one at a time in a worker thread (the models and the threads database are shared).
"""

from __future__ import annotations

import base64
import mimetypes
import os
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from .langchain_tool import UnisonTool

URI_PREFIX = "unison://outputs/"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}

INSTRUCTIONS = (
    "A local multimodal assistant (Unison: a planner picks one of twelve tasks, Wan2.1-VACE makes images and "
    "videos). Call unison_run with a request in plain words and the files to attach; reuse a thread_id to say "
    "'it' or '#2' about earlier files. unison_plan shows what would run; unison_annotate makes one control map "
    "or mask. Files must lie in the folders the server allows, or be files it made (resources unison://outputs/...)."
)


def mime_of(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class UnisonMCP:
    """The three tools and the output resources over one :class:`UnisonTool` (boundary, threads, sessions)."""

    def __init__(self, tool: UnisonTool, *, host: str = "127.0.0.1", port: int = 8000) -> None:
        from mcp.server.fastmcp import FastMCP

        self.tool = tool
        self.outputs = Path(tool.resolved_settings().outputs_dir).resolve()
        self._lock = threading.Lock()
        self.server = FastMCP("unison", instructions=INSTRUCTIONS, host=host, port=port)
        self._register("unison_run", self.run)
        self._register("unison_plan", self.plan)
        self._register("unison_annotate", self.annotate)
        if self.outputs.is_dir():  # outputs of earlier runs stay readable
            for path in sorted(p for p in self.outputs.rglob("*") if p.is_file() and p.suffix != ".json"):
                self.expose(path)

    def _register(self, name: str, method) -> None:
        """Register ``method`` as tool ``name``, run in a worker thread (generation blocks for a while)."""
        import functools
        import inspect

        import anyio

        @functools.wraps(method)
        async def call(**kwargs):
            return await anyio.to_thread.run_sync(functools.partial(method, **kwargs))

        call.__signature__ = inspect.signature(method)
        self.server.tool(name=name, structured_output=False)(call)

    # -- resources -------------------------------------------------------------------------------------------
    def uri(self, path: Path) -> str:
        return URI_PREFIX + Path(path).resolve().relative_to(self.outputs).as_posix()

    def expose(self, path: Path) -> str:
        """Register an output file as a resource; returns its URI."""
        from mcp.server.fastmcp.resources import FileResource

        path = Path(path).resolve()
        uri = self.uri(path)
        self.server.add_resource(
            FileResource(uri=uri, name=path.name, path=path, is_binary=True, mime_type=mime_of(path),
                         description=f"a file made by unison ({path.suffix[1:]})")
        )  # fmt: skip
        return uri

    def content_for(self, path: Path) -> Any:
        """Image content for an image (the client sees it at once), a resource link for anything else."""
        from mcp.types import ImageContent, ResourceLink

        path = Path(path)
        uri = self.expose(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return ImageContent(type="image", data=data, mimeType=mime_of(path))
        return ResourceLink(type="resource_link", uri=uri, name=path.name, mimeType=mime_of(path),
                            size=path.stat().st_size)  # fmt: skip

    # -- tools -----------------------------------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        """Run ``fn`` under the lock; an error the request caused becomes an MCP error result."""
        from langchain_core.tools import ToolException
        from mcp.server.fastmcp.exceptions import ToolError

        from .errors import UnisonError, describe_os_error

        with self._lock:
            try:
                return fn(*args, **kwargs)
            except (ToolException, UnisonError) as exc:
                raise ToolError(str(exc)) from None
            except OSError as exc:  # its own folders: not writable, a file in the way, a full disk
                raise ToolError(describe_os_error(exc)) from None

    def run(
        self,
        request: Annotated[str, Field(description="what to do, in plain words; may name files as ###path###")],
        files: Annotated[list[str] | None, Field(description="paths of images or videos to attach, in order")] = None,
        thread_id: Annotated[
            str | None, Field(description="conversation to continue (default: the server's own)")
        ] = None,
    ):
        """Understand, create or edit images and videos (compound requests run step by step). Returns the answer,
        the images made (inline), the videos made (resource links), and the plan as structured content."""
        from mcp.types import CallToolResult, TextContent

        text, artifact = self._call(self.tool._run, request, files=files or [], thread_id=thread_id)
        outputs = [Path(p) for p in artifact["outputs"]]
        content = [TextContent(type="text", text=text)] + [self.content_for(p) for p in outputs]
        structured = {
            "task": artifact["task"],
            "plan": artifact["plan"],
            "outputs": [{"path": str(p), "uri": self.uri(p), "mimeType": mime_of(p)} for p in outputs],
            "thread": artifact["thread"],
            "errors": artifact["errors"],
            "demo": artifact["demo"],
        }
        return CallToolResult(content=content, structuredContent=structured, isError=False)

    def plan(
        self,
        request: Annotated[str, Field(description="the request to plan; may name files as ###path###")],
        files: Annotated[list[str] | None, Field(description="paths of images or videos to attach, in order")] = None,
        thread_id: Annotated[str | None, Field(description="the thread whose files 'it' / '#2' refer to")] = None,
    ):
        """The plans a request would run, one per step (task, size, frames, inputs and their roles), without
        running anything."""
        import json

        from mcp.types import CallToolResult, TextContent

        def plan() -> list[dict[str, Any]]:
            text = self._checked_request(request, files or [])
            return [s.to_json() for s in self.tool.session(thread_id or self.tool.default_thread).plan(text)]

        steps = self._call(plan)
        summary = json.dumps(steps, ensure_ascii=False)
        return CallToolResult(content=[TextContent(type="text", text=summary)], structuredContent={"steps": steps})

    def annotate(
        self,
        kind: Annotated[
            str, Field(description="annotator: depth, pose, canny, gray, flow, scribble, mask, salient, ...")
        ],
        file: Annotated[str, Field(description="the image or video to annotate")],
        target: Annotated[str | None, Field(description="for masks: what to segment, e.g. 'the bird'")] = None,
    ):
        """Run one annotator on an image or video (a control map or a mask); returns the file it made."""
        from mcp.types import CallToolResult, TextContent

        from .boundary import safe_name
        from .errors import UnisonError
        from .media import check_file
        from .tools.annotate import ANNOTATORS

        def annotate():
            if kind not in ANNOTATORS:
                raise UnisonError(f"unknown annotator {kind!r}; choose one of {', '.join(ANNOTATORS)}")
            self.tool.check_access([file])
            src = check_file(self.tool.boundary().admit(file)).path  # the checked copy: read as it was checked
            out_dir = self.outputs / "annotations"
            out_dir.mkdir(parents=True, exist_ok=True)
            session = self.tool.session(self.tool.default_thread)
            name = safe_name(f"{Path(src).stem}_{kind}".replace(".", "_"), "file")  # the annotator adds .png/.mp4
            return session.tools.annotate(kind, Path(src), out_dir / name, session.settings, target=target)

        made = self._call(annotate)
        path = Path(made.path)
        notes = "".join(f"\nnote: {n}" for n in made.notes)
        content = [TextContent(type="text", text=f"wrote {path}{notes}"), self.content_for(path)]
        structured = {"path": str(path), "uri": self.uri(path), "mimeType": mime_of(path), "notes": list(made.notes)}
        return CallToolResult(content=content, structuredContent=structured)

    def _checked_request(self, request: str, files: list[str]) -> str:
        """The request with the attached files appended as mentions, after the boundary check (as ``_run``)."""
        from .mentions import find_mentions

        self.tool.check_access([m.path for m in find_mentions(request, check=False)] + files)
        return request + "".join(f" ###{os.path.abspath(os.path.expanduser(f))}###" for f in files)


def build_server(tool: UnisonTool | None = None, *, host: str = "127.0.0.1", port: int = 8000):
    """A FastMCP server over ``tool`` (default: a ``UnisonTool`` with settings from the environment)."""
    return UnisonMCP(tool or UnisonTool(), host=host, port=port).server
