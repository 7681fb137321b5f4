"""``UnisonTool``: the agent as a LangChain tool, for any LangChain / LangGraph agent.

    from unison_agent import Settings, UnisonTool

    tool = UnisonTool(settings=Settings.resolve({"allowed_dirs": ["/data/media"]}))
    msg = tool.invoke({"type": "tool_call", "id": "1", "name": "unison",
                       "args": {"request": "animate it", "files": ["/data/media/cat.png"]}})
    msg.content      # the answer, or a short description of what was made
    msg.artifact     # {"outputs": [...], "plan": {...}, "task": ..., "thread": ..., "errors": [...]}

The tool reads files only inside ``settings.allowed_dirs`` (env ``UNISON_ALLOWED_DIRS``, separated by the OS path
separator) and its own outputs folder; anything else is refused with a message saying how to allow it. Each
``thread_id`` is a persistent conversation (so "it" and "#2" refer to that thread's earlier files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .errors import UnisonError
from .settings import Settings

DESCRIPTION = (
    "A local multimodal assistant. Answers questions about text, images and videos; creates images and videos "
    "from text; animates an image; edits images and videos ('make the car red'); follows reference images, "
    "pose/depth/edge control videos. Give the request in plain words; attach files with `files` (or write "
    "###path### in the request). Compound requests work ('make a picture of a fox, then turn it into a video'). "
    "Later calls with the same thread_id can say 'it', 'the last video' or '#2'. Returns the answer or the list "
    "of files it made."
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
    """Settings (default: resolved from the environment). ``allowed_dirs`` limits file access."""
    default_thread: str = "langchain"
    tools: Any = None
    """A ``graphs.toolbox.Toolbox`` to use instead of the real models (tests)."""

    _sessions: dict[str, Any] = PrivateAttr(default_factory=dict)
    _settings: Settings | None = PrivateAttr(default=None)

    def resolved_settings(self) -> Settings:
        if self._settings is None:
            settings = self.settings or Settings.resolve()
            if settings.demo:
                from .demo import demo_settings

                settings = demo_settings(settings)
            self._settings = settings
        return self._settings

    def allowed_dirs(self) -> list[Path]:
        s = self.resolved_settings()
        return [Path(p).resolve() for p in s.allowed_dirs] + [Path(s.outputs_dir).resolve()]

    def check_access(self, paths: list[str]) -> None:
        """ToolException unless every path lies inside an allowed directory."""
        allowed = self.allowed_dirs()
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            if not any(path == d or path.is_relative_to(d) for d in allowed):
                configured = ", ".join(str(d) for d in self.resolved_settings().allowed_dirs) or "none configured"
                raise ToolException(
                    f"access to {raw} is not allowed: the unison tool reads files only inside its allowed "
                    f"directories ({configured}) and its outputs folder. Add the folder to settings.allowed_dirs "
                    f"(env UNISON_ALLOWED_DIRS)."
                )

    def session(self, thread: str):
        if thread not in self._sessions:
            from .session import Session

            self._sessions[thread] = Session(self.resolved_settings(), thread=thread, tools=self.tools, confirm=False)
        return self._sessions[thread]

    def _run(
        self,
        request: str,
        files: list[str] | None = None,
        thread_id: str | None = None,
        run_manager: Any = None,
    ) -> tuple[str, dict[str, Any]]:
        from .mentions import find_mentions

        files = list(files or [])
        try:
            mentioned = [m.path for m in find_mentions(request, check=False)]
        except UnisonError as exc:
            raise ToolException(str(exc)) from None
        self.check_access(mentioned + files)
        text = request + "".join(f" ###{Path(f).expanduser().resolve()}###" for f in files)
        try:
            result = self.session(thread_id or self.default_thread).send(text)
        except UnisonError as exc:
            raise ToolException(str(exc)) from None
        artifact = {
            "task": result.task,
            "outputs": result.outputs,
            "plan": result.plan,
            "thread": result.thread,
            "errors": result.errors,
            "demo": result.demo,
        }
        if result.errors and not result.results:
            raise ToolException(result.answer)
        content = result.answer
        if result.outputs:
            content += "\nfiles: " + ", ".join(result.outputs)
        return content, artifact

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()
