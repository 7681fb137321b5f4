"""``UnisonTool``: the agent as a LangChain tool, for any LangChain / LangGraph agent.

    from unison_agent import Settings, UnisonTool

    tool = UnisonTool(settings=Settings.resolve({"allowed_dirs": ["/data/media"]}))
    msg = tool.invoke({"type": "tool_call", "id": "1", "name": "unison",
                       "args": {"request": "animate it", "files": ["/data/media/cat.png"]}})
    msg.content      # the answer, or a short description of what was made
    msg.artifact     # {"outputs": [...], "files": [{"id", "path", "kind", "role"}], "plan": {...}, "task": ...,
                     #  "thread": ..., "errors": [...]}

The boundary: every file that reaches planning, understanding, annotation or generation through the tool —
mentioned, attached, referenced ("#3", "it", "the last video"), taken from a thread's history or made by an
earlier step — must lie inside ``settings.allowed_dirs`` (env ``UNISON_ALLOWED_DIRS``, separated by the OS path
separator) or inside the tool's own outputs folder (``<workdir>/outputs``); anything else is refused with an
:class:`~unison_agent.contract.errors.AccessError` naming the file as the caller gave it and ``allowed_dirs``. Paths are
compared after resolving symlinks and ``..``. The check runs on every path a step resolves (the ``guard`` of
:func:`unison_agent.core.prepare.prepare_step`, a :class:`~unison_agent.core.boundary.Boundary`), so the calling model cannot
reach a file by naming it indirectly; and a file is read as it was checked: opened once, the opened file checked,
its bytes copied into ``<workdir>/inputs/`` and only that copy used afterwards.

Threads: each ``thread_id`` is a persistent conversation (so "it" and "#2" refer to that thread's earlier files).
The tool keeps its threads in its own database (``<workdir>/threads.sqlite``, ``workdir`` defaulting to
``<UNISON_HOME>/tool``), apart from the person's CLI threads: a ``thread_id`` naming a CLI thread opens a new,
empty tool thread. ``shared_threads=True`` lets the tool resume the CLI's threads (``settings.threads_db``); the
file boundary still holds there (a CLI turn's files outside ``allowed_dirs`` stay unreadable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from unison_agent.contract.errors import UnisonError
from unison_agent.contract.settings import Settings
from unison_agent.core.boundary import Boundary

DESCRIPTION = (
    "A local multimodal assistant. Answers questions about text, images and videos; creates images and videos "
    "from text; animates an image; edits images and videos ('make the car red'); follows reference images, "
    "pose/depth/edge control videos. Give the request in plain words; attach files with `files` (or write "
    "###path### in the request). Compound requests work ('make a picture of a fox, then turn it into a video'). "
    "Later calls with the same thread_id can say 'it', 'the last video' or '#2'. Files must lie in the folders the "
    "application allowed (or be files this tool made). Returns the answer or the list of files it made."
)


class UnisonToolInput(BaseModel):
    """Arguments of the unison tool."""

    request: str = Field(description="what to do, in plain words; may name files as ###path###")
    files: list[str] = Field(default_factory=list, description="paths of images or videos to attach, in order")
    thread_id: str | None = Field(default=None, description="conversation to continue (default: the tool's own)")


class UnisonTool(BaseTool):
    """The unison agent as a LangChain ``BaseTool`` (content and artifact)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "unison"
    description: str = DESCRIPTION
    args_schema: type[BaseModel] = UnisonToolInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool = True

    settings: Settings | None = None
    """Settings (default: resolved from the environment). ``allowed_dirs`` is what the tool may read."""
    default_thread: str = "langchain"
    shared_threads: bool = False
    """Resume the person's CLI threads (``settings.threads_db``) too; default: only the tool's own threads."""
    workdir: Path | None = None
    """Where the tool keeps its threads database and its outputs (default ``<settings.home>/tool``)."""
    tools: Any = None
    """A ``graphs.toolbox.Toolbox`` to use instead of the real models (tests)."""

    _sessions: dict[str, Any] = PrivateAttr(default_factory=dict)
    _settings: Settings | None = PrivateAttr(default=None)
    _boundary: Boundary | None = PrivateAttr(default=None)

    def resolved_settings(self) -> Settings:
        """The settings the tool runs with: the given ones, writing into the tool's own outputs folder and (unless
        ``shared_threads``) keeping threads in the tool's own database."""
        if self._settings is None:
            settings = self.settings or Settings.resolve()
            if settings.demo:  # this face applies demo mode, once (unless `unison mcp --demo` already did)
                from unison_agent.core.demo import demo_ready, demo_settings

                if not demo_ready(settings):
                    settings = demo_settings(settings)
            root = Path(self.workdir or Path(settings.home) / "tool").expanduser().resolve()
            changes: dict[str, Any] = {"outputs_dir": root / "outputs"}
            if not self.shared_threads:
                changes["threads_db"] = root / "threads.sqlite"
            self._settings = settings.replace(**changes)
        return self._settings

    def allowed_dirs(self) -> list[Path]:
        """The folders the tool may read: ``settings.allowed_dirs`` and its own outputs folder."""
        s = self.resolved_settings()
        return [Path(p).resolve() for p in s.allowed_dirs] + [Path(s.outputs_dir).resolve()]

    def boundary(self) -> Boundary:
        """The tool's file boundary: ``allowed_dirs``, and its own outputs and checked copies
        (``<workdir>/inputs``) as folders only it writes."""
        if self._boundary is None:
            from unison_agent.media.files import MediaLimits

            s = self.resolved_settings()
            self._boundary = Boundary.build(
                s.allowed_dirs,
                [s.outputs_dir],
                Path(s.outputs_dir).parent / "inputs",
                who="the unison tool",
                hint="add it to settings.allowed_dirs (env UNISON_ALLOWED_DIRS)",
                limits=MediaLimits.from_settings(s),
            )
        return self._boundary

    def guard(self, raw: str) -> None:
        """AccessError unless ``raw`` (after resolving symlinks and ``..``) lies inside an allowed folder; the
        refusal names the path only as the caller gave it."""
        self.boundary().check(raw)

    def check_access(self, paths: list[str]) -> None:
        """ToolException unless every path is a usable file name inside an allowed folder (see :meth:`guard`)."""
        for raw in paths:
            try:
                self.guard(raw)
            except UnisonError as exc:
                raise ToolException(str(exc)) from None

    def session(self, thread: str):
        if thread not in self._sessions:
            from unison_agent.core.session import Session

            self._sessions[thread] = Session(
                self.resolved_settings(), thread=thread, tools=self.tools, confirm=False, guard=self.boundary()
            )
        return self._sessions[thread]

    def _run(
        self,
        request: str,
        files: list[str] | None = None,
        thread_id: str | None = None,
        run_manager: Any = None,
        on_event: Any = None,
    ) -> tuple[str, dict[str, Any]]:
        """The turn's answer and artifact; ``on_event`` receives the session's progress events (the MCP server
        turns them into progress notifications)."""
        from unison_agent.contract.errors import describe_os_error
        from unison_agent.contract.mentions import find_mentions
        from unison_agent.core.boundary import safe_name

        files = list(files or [])
        thread = thread_id or self.default_thread
        try:
            safe_name(thread, "thread_id")  # refused before any file is read or made
            mentioned = [m.path for m in find_mentions(request, check=False)]
            self.check_access(mentioned + files)
            text = request + "".join(f" ###{os.path.abspath(os.path.expanduser(f))}###" for f in files)
            result = self.session(thread).send(text, on_event=on_event)
        except UnisonError as exc:
            raise ToolException(str(exc)) from None
        except OSError as exc:  # the tool's own folders: not writable, a file in the way, a full disk
            raise ToolException(describe_os_error(exc)) from None
        artifact = {
            "task": result.task,
            "outputs": result.outputs,
            "files": result.files,
            "plan": result.plan,
            "thread": result.thread,
            "errors": result.errors,
            "demo": result.demo,
        }
        if result.errors and not result.results:  # the message as it is (no "error: " in front: it is one)
            raise ToolException("\n".join(e["error"] for e in result.errors))
        content = result.answer
        if result.files:
            content += "\nfiles: " + ", ".join(f"#{f['id']} {f['path']}" for f in result.files)
        return content, artifact

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()
