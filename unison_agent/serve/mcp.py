"""The agent as an MCP server (the official ``mcp`` SDK's FastMCP), for any MCP client::

    from unison_agent import Settings, UnisonTool
    from unison_agent.serve.mcp import build_server

    server = build_server(UnisonTool(settings=Settings.resolve({"allowed_dirs": ["/data/media"]})))
    server.run("stdio")          # or "streamable-http" (build_server(..., port=8765))

Tools (each with an ``outputSchema`` for its structured content, :mod:`unison_agent.serve.mcp_schema`): ``unison_run``
(the answer as text, images as image content, videos as resource links — every file the turn made, annotator masks
and control maps too, each with its media id — and ``{task, plan, outputs, files, thread, errors}`` as structured
content), ``unison_plan`` (the plans a request would run, nothing runs) and ``unison_annotate`` (one annotator on
one file).

Resources: every file the server made is readable as ``unison://outputs/<thread>/<name>`` (a resource template);
``resources/list`` lists the files of the threads this client used, newest first, at most :data:`LIST_LIMIT`.

Progress: when a call carries a progress token, the turn's stage and step events become ``notifications/progress``
(a stage: progress 0 and its label; a counted step: progress i of total n, the label with the time left).

The file boundary is :class:`~unison_agent.serve.langchain_tool.UnisonTool`'s, reused as is: files only inside
``allowed_dirs`` or the tool's own outputs folder, the tool's own threads database and workdir, its ``guard`` on
every path a step resolves. A refused or failing call, or bad arguments, is an MCP error result (``isError``) whose
text says what was wrong once; the server stays up. Calls run one at a time in a worker thread (the models and the
threads database are shared).
"""

from __future__ import annotations

import base64
import functools
import inspect
import mimetypes
import os
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from unison_agent.serve.langchain_tool import UnisonTool
from unison_agent.serve.mcp_progress import progress_sender
from unison_agent.serve.mcp_schema import AnnotateOutput, PlanOutput, RunOutput, argument_errors

URI_PREFIX = "unison://outputs/"
URI_TEMPLATE = URI_PREFIX + "{thread}/{name}"
LIST_LIMIT = 50
"""``resources/list`` shows at most this many files (the newest); older ones stay readable by their URI."""
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
ANNOTATIONS = "annotations"
"""The outputs folder of ``unison_annotate`` (it runs on no thread)."""

INSTRUCTIONS = (
    "A local multimodal assistant (Unison: a planner picks one of twelve tasks, Wan2.1-VACE makes images and "
    "videos). Call unison_run with a request in plain words and the files to attach; reuse a thread_id to say "
    "'it' or '#2' about earlier files. unison_plan shows what would run; unison_annotate makes one control map "
    "or mask. Files must lie in the folders the server allows, or be files it made (resources unison://outputs/...)."
)


def mime_of(path: Path) -> str:
    return mimetypes.guess_type(Path(path).name)[0] or "application/octet-stream"


class Refused(Exception):
    """A call the person's input caused to fail: answered as an MCP error result with exactly this text."""


def _server_class():
    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent

    def error(text: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=text)], isError=True)

    class UnisonFastMCP(FastMCP):
        """FastMCP with plain error texts (no "Error executing tool ..." in front of our own message, arguments
        checked with a message naming each wrong one) and resources scoped to the threads a client used."""

        unison: UnisonMCP

        async def call_tool(self, name: str, arguments: dict[str, Any]):
            tool = self._tool_manager.get_tool(name)
            if tool is None:
                known = ", ".join(t.name for t in self._tool_manager.list_tools())
                return error(f"unknown tool {name!r}; this server has {known}")
            problems = argument_errors(tool, arguments)
            if problems:
                return error(f"{name}: " + "; ".join(problems))
            try:
                return await super().call_tool(name, arguments)
            except ToolError as exc:
                if isinstance(exc.__cause__, Refused):
                    return error(str(exc.__cause__))
                raise

        async def list_resources(self):
            return self.unison.list_resources(self.get_context())

        async def read_resource(self, uri):
            return self.unison.read_resource(str(uri))

    return UnisonFastMCP


class UnisonMCP:
    """The three tools and the output resources over one :class:`UnisonTool` (boundary, threads, sessions)."""

    def __init__(self, tool: UnisonTool, *, host: str = "127.0.0.1", port: int = 8000) -> None:
        from mcp.server.fastmcp.resources import ResourceTemplate

        self.tool = tool
        self.outputs = Path(tool.resolved_settings().outputs_dir).resolve()
        self._lock = threading.Lock()
        self._threads: dict[int, list[str]] = {}  # id(client session) -> the threads it used, in order
        self.server = _server_class()("unison", instructions=INSTRUCTIONS, host=host, port=port)
        self.server.unison = self
        self._register("unison_run", self.run, RunOutput)
        self._register("unison_plan", self.plan, PlanOutput)
        self._register("unison_annotate", self.annotate, AnnotateOutput)
        self.server._resource_manager._templates[URI_TEMPLATE] = ResourceTemplate(
            uri_template=URI_TEMPLATE,
            name="unison output",
            fn=self._read_bytes,
            parameters={},
            mime_type="application/octet-stream",
            description="a file unison made: <thread> is the thread_id's folder, <name> the file's name",
        )

    def _register(self, name: str, method, output: type) -> None:
        """Register ``method`` as tool ``name`` with ``output`` as its outputSchema, run in a worker thread
        (generation blocks for a while), with the request's context for progress and resource scoping."""
        import anyio
        from mcp.server.fastmcp import Context
        from mcp.types import CallToolResult

        @functools.wraps(method)
        async def call(ctx: Context, **kwargs):
            self._note_thread(ctx, kwargs.get("thread_id") or (ANNOTATIONS if name == "unison_annotate" else None))
            send = progress_sender(ctx)
            return await anyio.to_thread.run_sync(functools.partial(method, **kwargs, on_event=send))

        hints = inspect.get_annotations(method, eval_str=True)
        params = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(method).parameters.values()
            if p.name != "on_event"
        ]
        params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
        returns = Annotated[CallToolResult, output]
        del call.__wrapped__  # the signature below is the tool's, not the method's
        call.__signature__ = inspect.Signature(params, return_annotation=returns)
        call.__annotations__ = {**{p.name: p.annotation for p in params}, "return": returns}
        self.server.tool(name=name)(call)

    # -- resources -------------------------------------------------------------------------------------------
    def uri(self, path: Path) -> str:
        return URI_PREFIX + Path(path).resolve().relative_to(self.outputs).as_posix()

    def thread_dir(self, thread: str) -> Path:
        from unison_agent.core.boundary import thread_dir

        return thread_dir(self.outputs, thread)  # the one thread -> folder rule

    def _note_thread(self, ctx, thread: str | None) -> None:
        used = self._threads.setdefault(id(ctx.session), [])
        thread = thread or self.tool.default_thread
        if thread not in used:
            used.append(thread)

    def list_resources(self, ctx) -> list[Any]:
        """The files of the threads this client used (newest first, at most ``LIST_LIMIT``)."""
        from mcp.types import Resource

        files = []
        for thread in self._threads.get(id(ctx.session), []):
            folder = self.thread_dir(thread)
            if folder.is_dir():
                files += [
                    p for p in folder.iterdir() if p.is_file() and p.suffix != ".json" and not p.name.startswith(".")
                ]
        files.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        return [
            Resource(
                uri=self.uri(p),
                name=p.name,
                mimeType=mime_of(p),
                size=p.stat().st_size,
                description=f"made by unison on thread folder {p.parent.name}",
            )
            for p in files[:LIST_LIMIT]
        ]

    def _path_of(self, uri: str) -> Path:
        if not uri.startswith(URI_PREFIX):
            raise ValueError(f"unknown resource {uri}: unison's resources are {URI_TEMPLATE}")
        path = (self.outputs / uri[len(URI_PREFIX) :]).resolve()
        if not path.is_relative_to(self.outputs) or not path.is_file() or path.suffix == ".json":
            raise ValueError(f"no such output: {uri} (resources/list shows the newest files of your threads)")
        return path

    def _read_bytes(self, thread: str, name: str) -> bytes:
        return self._path_of(URI_PREFIX + f"{thread}/{name}").read_bytes()

    def read_resource(self, uri: str) -> list[Any]:
        from mcp.server.lowlevel.helper_types import ReadResourceContents

        path = self._path_of(uri)
        return [ReadResourceContents(content=path.read_bytes(), mime_type=mime_of(path))]

    def content_for(self, path: Path, label: str = "") -> Any:
        """Image content for an image (the client sees it at once), a resource link for anything else."""
        from mcp.types import ImageContent, ResourceLink

        path = Path(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return ImageContent(type="image", data=data, mimeType=mime_of(path))
        return ResourceLink(
            type="resource_link",
            uri=self.uri(path),
            name=f"{label}{path.name}",
            mimeType=mime_of(path),
            size=path.stat().st_size,
        )

    # -- tools -----------------------------------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        """Run ``fn`` under the lock; an error the request caused becomes an MCP error result (its text once)."""
        from langchain_core.tools import ToolException

        from unison_agent.contract.errors import UnisonError, describe_os_error

        with self._lock:
            try:
                return fn(*args, **kwargs)
            except (ToolException, UnisonError) as exc:
                raise Refused(str(exc)) from None
            except OSError as exc:  # its own folders: not writable, a file in the way, a full disk
                raise Refused(describe_os_error(exc)) from None

    def run(
        self,
        request: Annotated[str, Field(description="what to do, in plain words; may name files as ###path###")],
        files: Annotated[list[str] | None, Field(description="paths of images or videos to attach, in order")] = None,
        thread_id: Annotated[
            str | None, Field(description="conversation to continue (default: the server's own)")
        ] = None,
        on_event=None,
    ) -> Any:
        """Understand, create or edit images and videos (compound requests run step by step). Returns the answer,
        every file the turn made with its id (#3: images inline, videos as resource links; annotator masks and
        control maps too), and the plan as structured content."""
        from mcp.types import CallToolResult, TextContent

        text, artifact = self._call(self.tool._run, request, files=files or [], thread_id=thread_id, on_event=on_event)
        made = artifact.get("files") or [{"id": None, "path": p, "role": "output"} for p in artifact["outputs"]]
        content: list[Any] = [TextContent(type="text", text=text)]
        for f in made:
            label = (f"#{f['id']} " if f.get("id") is not None else "") + ("" if f["role"] == "output" else f["role"])
            content.append(TextContent(type="text", text=f"{label.strip()}: {self.uri(Path(f['path']))}"))
            content.append(self.content_for(Path(f["path"]), label=f"#{f['id']} " if f.get("id") else ""))
        structured = {
            "task": artifact["task"],
            "answer": text,
            "plan": artifact["plan"],
            "outputs": [self._file(Path(p), made) for p in artifact["outputs"]],
            "files": [self._file(Path(f["path"]), made) for f in made],
            "thread": artifact["thread"],
            "errors": [{"step": e.get("step", 0), "error": e["error"]} for e in artifact["errors"]],
            "demo": artifact["demo"],
        }
        return CallToolResult(content=content, structuredContent=structured, isError=False)

    def _file(self, path: Path, made: list[dict[str, Any]]) -> dict[str, Any]:
        info = next((f for f in made if f["path"] == str(path)), {})
        return {
            "id": info.get("id"),
            "role": info.get("role", "output"),
            "path": str(path),
            "uri": self.uri(path),
            "mimeType": mime_of(path),
        }

    def plan(
        self,
        request: Annotated[str, Field(description="the request to plan; may name files as ###path###")],
        files: Annotated[list[str] | None, Field(description="paths of images or videos to attach, in order")] = None,
        thread_id: Annotated[str | None, Field(description="the thread whose files 'it' / '#2' refer to")] = None,
        on_event=None,
    ) -> Any:
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
        on_event=None,
    ) -> Any:
        """Run one annotator on an image or video (a control map or a mask); returns the file it made."""
        from mcp.types import CallToolResult, TextContent

        from unison_agent.contract.errors import UnisonError
        from unison_agent.core.boundary import safe_name
        from unison_agent.media.files import check_file
        from unison_agent.tools.annotate import ANNOTATORS

        def annotate():
            if kind not in ANNOTATORS:
                raise UnisonError(f"unknown annotator {kind!r}; choose one of {', '.join(ANNOTATORS)}")
            self.tool.check_access([file])
            src = check_file(self.tool.boundary().admit(file)).path  # the checked copy: read as it was checked
            out_dir = self.thread_dir(ANNOTATIONS)
            out_dir.mkdir(parents=True, exist_ok=True)
            session = self.tool.session(self.tool.default_thread)
            if on_event is not None:
                on_event({"event": "stage", "stage": "annotating", "text": f"running the {kind} annotator"})
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
        from unison_agent.contract.mentions import find_mentions

        self.tool.check_access([m.path for m in find_mentions(request, check=False)] + files)
        return request + "".join(f" ###{os.path.abspath(os.path.expanduser(f))}###" for f in files)


def build_server(tool: UnisonTool | None = None, *, host: str = "127.0.0.1", port: int = 8000):
    """A FastMCP server over ``tool`` (default: a ``UnisonTool`` with settings from the environment)."""
    return UnisonMCP(tool or UnisonTool(), host=host, port=port).server
