"""The web UI's core, without Gradio: sessions per thread, uploads, the file boundary, turns as event streams.

``WebChat`` drives the same :class:`~unison_agent.core.session.Session` as ``unison chat``. A turn runs in a worker
thread; :meth:`WebChat.turn` yields :class:`Update` objects (streamed tokens, stage labels, counted steps with
their timing, each with the turn's :class:`Progress`) and ends with the finished (or pending)
:class:`~unison_agent.core.session.TurnResult`. A request refused before it runs is kept as a failed turn
(``Session.refuse``). The chat view of a thread is a list
of :class:`Item` built from the thread's stored history, so reopening a thread shows exactly what was said and made.

The boundary: the browser names files only by uploading them. Uploads are copied under
``<home>/uploads/<thread>/``; every path a turn resolves (typed ``###path###`` mentions, "it", "#3") must lie inside
that folder, the thread's outputs folder or the configured ``allowed_dirs`` (the Session's ``guard`` hook, as the
LangChain tool uses it), else the turn answers with an :class:`~unison_agent.contract.errors.AccessError` message. The
boundary, the thread folders and upload names come from :mod:`unison_agent.core.boundary`; a file typed from
``allowed_dirs`` is used as the checked copy under ``uploads/<thread>/checked/``.
"""

from __future__ import annotations

import queue
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from unison_agent.contract.errors import UnisonError, log_internal_error
from unison_agent.contract.mentions import MENTION_RE, mention_path
from unison_agent.contract.settings import Settings
from unison_agent.core import boundary

MEDIA_SUFFIXES = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".webp": "image",
    ".bmp": "image",
    ".mp4": "video",
    ".mov": "video",
    ".avi": "video",
    ".webm": "video",
    ".mkv": "video",
}


def new_thread_name() -> str:
    return f"web-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class Item:
    """One entry of the chat view: text, or a media file with its id (``#3``)."""

    role: Literal["user", "assistant"]
    text: str = ""
    path: str | None = None
    kind: str | None = None  # "image" | "video" for media items
    media_id: int | None = None
    what: str | None = None
    """What an annotator map is ("mask", "depth"); None for inputs and outputs (their kind is shown)."""

    @property
    def label(self) -> str:
        """``#3 · video · name.mp4`` for a media item (``#3 · mask · mask-....mp4`` for a prepared map)."""
        ident = f"#{self.media_id} · " if self.media_id is not None else ""
        return f"{ident}{self.what or self.kind} · {Path(self.path or '').name}"


@dataclass
class Update:
    """One event of a running turn; ``result`` is set on the last one, ``progress`` on every other."""

    kind: Literal["token", "status", "stage", "step", "done"]
    text: str = ""
    step: int = 0
    total: int = 0
    result: Any = None
    progress: Progress | None = None


STOPS_AT = {
    "planning": "the next denoising step or answer token",
    "loading": "the first denoising step",
    "annotating": "the first denoising step (after the annotator)",
    "understanding": "the next answer token",
    "checking": "the next check",
}
"""What a cancelled turn waits for in each stage (where the graph polls ``Session.cancel``)."""


@dataclass
class Progress:
    """What a running turn is doing now: the stage and its label, the counted step (denoising step i of N,
    annotated frame i of n) with its timing, and whether Stop was pressed. Both event forms are read: the
    ``stage``/``step`` events of the progress contract and the older ``status`` / ``step`` (step, total)."""

    label: str = "planning"
    stage: str = "planning"
    step: int = 0
    total: int = 0
    elapsed_s: float | None = None
    remaining_s: float | None = None
    stopping: bool = False
    since: float = field(default_factory=time.monotonic)
    """When the current stage began (elapsed time of step events that carry none is counted from here)."""
    at: float = field(default_factory=time.monotonic)
    """When the last event arrived."""

    def read(self, event: dict[str, Any]) -> bool:
        """Take one event in; True when it changed what the status line shows."""
        kind, now = event.get("event"), time.monotonic()
        if kind == "stage":
            self._begin(str(event.get("stage") or "working"), str(event.get("text") or event.get("stage")), now)
        elif kind == "status":
            text = str(event.get("text", ""))
            self._begin(_stage_of(text), text, now)
        elif kind == "node" and event.get("node") == "intake":
            self._begin("planning", "planning", now)
        elif kind == "step":
            stage = str(event.get("stage") or "denoising")
            step, total = int(event["step"]), int(event["total"])
            if event.get("elapsed_s") is None and (stage, step, total) == (self.stage, self.step, self.total):
                return False  # the untimed twin of a timed step event: nothing new
            if stage != self.stage:  # an older step event (no stage event before it), or a new counted stage
                self._begin(stage, stage, now)
            self.step, self.total = step, total
            if event.get("elapsed_s") is not None:
                self.elapsed_s = float(event["elapsed_s"])
                left = event.get("remaining_s")
                self.remaining_s = None if left is None else float(left)
            else:  # an older step event: timed from the first step seen
                self.since = self.since if self.step > 1 else now
                self.elapsed_s = now - self.since
                done = self.step - 1
                self.remaining_s = self.elapsed_s / done * (self.total - self.step) if done >= 1 else None
        else:
            return False
        self.at = now
        return True

    def _begin(self, stage: str, label: str, now: float) -> None:
        self.stage, self.label, self.since = stage, label, now
        self.step = self.total = 0
        self.elapsed_s = self.remaining_s = None

    def stop_text(self) -> str:
        """What a pressed Stop waits for, in words (with the step and about how long, while denoising)."""
        if self.stage == "denoising" and self.total:
            if self.step >= self.total:
                return f"stopping: all {self.total} denoising steps are done, so this output will be finished"
            per_step = (self.elapsed_s or 0.0) / max(self.step, 1)
            left = max(per_step - (time.monotonic() - self.at), 0.0)
            return (
                f"stopping after the current denoising step (step {self.step}/{self.total}, "
                f"about {max(1, round(left))} s)"
            )
        if self.stage in ("denoising", "decoding", "writing"):
            return f"stopping: denoising is over, so this output will be finished ({self.label})"
        waits = STOPS_AT.get(self.stage, "the next denoising step or answer token")
        return f"stopping at {waits} (now: {self.label})"


def _stage_of(text: str) -> str:
    """The stage an older ``status`` event's words describe."""
    words = text.lower()
    for stage, hints in (
        ("annotating", ("annotator", "annotating")),
        ("loading", ("loading",)),
        ("checking", ("checking", "retrying")),
        ("writing", ("writing",)),
        ("decoding", ("decoding",)),
        ("planning", ("planning",)),
    ):
        if any(h in words for h in hints):
            return stage
    return "working"


@dataclass
class WebChat:
    """Sessions of the web UI, one per (thread, planner, offload), sharing one checkpointer and one toolbox."""

    settings: Settings
    tools: Any = None
    _sessions: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _running: dict[str, Any] = field(default_factory=dict)
    _progress: dict[str, Progress] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _saver: Any = None

    def __post_init__(self) -> None:
        from unison_agent.core.session import open_checkpointer
        from unison_agent.graphs import toolbox

        self._saver = open_checkpointer(self.settings.threads_db)
        self.tools = self.tools or toolbox.default_tools()

    # -- places and the boundary ----------------------------------------------------------------------------
    @property
    def uploads_root(self) -> Path:
        return boundary.uploads_root(self.settings)

    def uploads_dir(self, thread: str) -> Path:
        return boundary.uploads_dir(self.settings, thread)

    def outputs_dir(self, thread: str) -> Path:
        return boundary.outputs_dir(self.settings, thread)

    def allowed_dirs(self, thread: str) -> list[Path]:
        """What a turn on ``thread`` may read: its uploads, its outputs, and ``settings.allowed_dirs``."""
        guard = self.guard_for(thread)
        return [*guard.trusted[:2], *guard.allowed]

    def serve_dirs(self) -> list[str]:
        """Folders the web server may send files from (every thread's uploads and outputs, ``allowed_dirs``)."""
        roots = [self.uploads_root, Path(self.settings.outputs_dir).resolve(), *self.settings.allowed_dirs]
        return [str(p) for p in roots]

    def guard_for(self, thread: str) -> boundary.Boundary:
        """The thread's boundary: its uploads and outputs (written only here) and ``allowed_dirs``; a file typed
        from ``allowed_dirs`` is read once, checked, and used as a copy under ``uploads/<thread>/checked/``."""
        from unison_agent.media.files import MediaLimits

        uploads = self.uploads_dir(thread)
        return boundary.Boundary.build(
            self.settings.allowed_dirs,
            [uploads, self.outputs_dir(thread)],
            uploads / "checked",
            who="the web UI",
            hint="upload the file instead, or start the server with UNISON_ALLOWED_DIRS set",
            limits=MediaLimits.from_settings(self.settings),
        )

    def readable(self, thread: str, path: str) -> bool:
        return self.guard_for(thread).allows(path) and Path(path).is_file()

    # -- sessions --------------------------------------------------------------------------------------------
    def session(self, thread: str, *, planner: str | None = None, offload: str | None = None):
        from unison_agent.core.session import Session

        planner = planner or self.settings.planner
        offload = offload or self.settings.offload
        key = (thread, planner, offload)
        with self._lock:
            if key not in self._sessions:
                settings = self.settings.replace(planner=planner, offload=offload)
                self._sessions[key] = Session(
                    settings, thread=thread, tools=self.tools, checkpointer=self._saver, guard=self.guard_for(thread)
                )
            return self._sessions[key]

    def threads(self) -> list[str]:
        from unison_agent.core.session import list_threads

        return list(reversed(list_threads(self.settings.threads_db)))

    def attach(self, thread: str, files: list[str]) -> list[str]:
        """Copy uploaded files into ``<home>/uploads/<thread>/`` (unique names); their new paths."""
        folder = self.uploads_dir(thread)
        folder.mkdir(parents=True, exist_ok=True)
        copied = []
        for raw in files:
            src = Path(raw)
            if src.suffix.lower() not in MEDIA_SUFFIXES:
                raise UnisonError(
                    f"{src.name}: not an image or a video (accepted: {', '.join(sorted(MEDIA_SUFFIXES))})"
                )
            dest = folder / boundary.safe_file_name(src.name)
            n = 1
            while dest.exists():
                dest = folder / boundary.safe_file_name(f"{src.stem}-{n}{src.suffix}")
                n += 1
            shutil.copyfile(src, dest)
            copied.append(str(dest))
        return copied

    # -- turns -----------------------------------------------------------------------------------------------
    def turn(
        self,
        thread: str,
        text: str,
        files: list[str] = (),
        *,
        overrides: dict[str, Any] | None = None,
        confirm: bool = False,
        planner: str | None = None,
        offload: str | None = None,
    ) -> Iterator[Update]:
        """Send one request (text + uploaded files) on ``thread``; yields progress, then ``Update("done")``."""
        try:
            session = self.session(thread, planner=planner, offload=offload)
        except UnisonError as exc:  # a thread name that cannot be one (a NUL byte): refused before any work
            yield Update("done", result=_failed(thread, str(exc)))
            return

        def call(on_event):
            guard = self.guard_for(thread)
            try:
                for m in MENTION_RE.finditer(text):  # typed paths: refused before anything else is said or copied
                    guard(mention_path(m.group(0)))
                paths = self.attach(thread, list(files))
            except UnisonError as exc:  # refused: the message and the error stay in the thread as a failed turn
                names = ", ".join(Path(f).name for f in files)
                said = " ".join([text.strip(), f"(attached: {names})" if names else ""]).strip()
                return session.refuse(said, str(exc), kind=type(exc).__name__)
            request = " ".join([text.strip(), *(f"###{p}###" for p in paths)]).strip()
            return session.send(request, overrides=overrides, confirm=confirm, on_event=on_event)

        yield from self._stream(thread, session, call)

    def resume(
        self, thread: str, decision: Any, *, planner: str | None = None, offload: str | None = None
    ) -> Iterator[Update]:
        """Answer the plan under review ("accept", "cancel" or a dict of changes)."""
        session = self.session(thread, planner=planner, offload=offload)
        yield from self._stream(thread, session, lambda on_event: session.resume(decision, on_event=on_event))

    def run_reviewed(
        self, thread: str, changes: dict[str, Any], *, planner: str | None = None, offload: str | None = None
    ) -> Iterator[Update]:
        """The review form's Run: apply ``changes`` to the plan under review, then run it. A refused change (a
        field the task does not have, a size out of range) leaves the plan waiting, with the reason in its notice."""
        if not changes:
            yield from self.resume(thread, "accept", planner=planner, offload=offload)
            return
        done = None
        for update in self.resume(thread, changes, planner=planner, offload=offload):
            if update.kind == "done":
                done = update
                break
            yield update
        pending = done.result.pending if done else None
        if pending and pending.get("notice") == "changed":
            yield from self.resume(thread, "accept", planner=planner, offload=offload)
        elif done is not None:
            yield done

    def stop(self, thread: str) -> str | None:
        """Cancel the turn running on ``thread`` (it ends at its next denoising step or answer token); what it
        waits for, in words ("stopping after the current denoising step (step 12/50, about 4 s)"), or None when no
        turn runs."""
        with self._lock:
            session, progress = self._running.get(thread), self._progress.get(thread)
        if session is None:
            return None
        session.cancel()
        progress = progress or Progress()
        progress.stopping = True
        return progress.stop_text()

    def busy(self, thread: str) -> bool:
        return thread in self._running

    def progress(self, thread: str) -> Progress | None:
        """What the turn running on ``thread`` is doing now (None when none runs)."""
        return self._progress.get(thread)

    def _stream(self, thread: str, session, call) -> Iterator[Update]:
        with self._lock:
            busy = thread in self._running
            if not busy:
                self._running[thread] = session
                self._progress[thread] = Progress()
        if busy:
            yield Update("done", result=_failed(thread, "this thread is still working on a request; wait or Stop"))
            return
        progress = self._progress[thread]
        events: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                result = call(events.put)
            except UnisonError as exc:
                result = _failed(thread, str(exc))
            except Exception as exc:  # a bug: logged, answered with one line (never a traceback in the page)
                log = log_internal_error(self.settings, exc)
                result = _failed(thread, f"internal error: {type(exc).__name__} (logged to {log})")
            events.put({"event": "done", "result": result})

        worker = threading.Thread(target=work, name=f"unison-web-{thread}", daemon=True)
        worker.start()
        try:
            while True:
                event = events.get()
                kind = event.get("event")
                if kind == "done":
                    yield Update("done", result=event["result"], progress=progress)
                    return
                if kind == "token":
                    if progress.stage != "understanding":
                        progress.read({"event": "stage", "stage": "understanding", "text": "answering"})
                    yield Update("token", text=event["text"], progress=progress)
                elif progress.read(event):
                    yield Update(
                        kind if kind in ("stage", "step") else "status",
                        text=progress.label,
                        step=progress.step,
                        total=progress.total,
                        progress=progress,
                    )
        finally:
            if worker.is_alive():  # the page went away mid-turn: stop the work instead of leaving it running
                session.cancel()
                worker.join()
            with self._lock:
                self._running.pop(thread, None)
                self._progress.pop(thread, None)

    # -- views -----------------------------------------------------------------------------------------------
    def view(self, thread: str, *, planner: str | None = None, offload: str | None = None) -> list[Item]:
        """The chat view of a thread: every finished turn with its files, answers and errors."""
        session = self.session(thread, planner=planner, offload=offload)
        by_path = {m["path"]: m for m in session.media()}
        items: list[Item] = []
        for turn in session.history():
            items += self.request_items(thread, turn["request"], by_path)
            made = [m["path"] for m in by_path.values() if m.get("turn") == turn["turn"] and m.get("origin") != "input"]
            items += self.result_items(thread, turn["results"], turn["errors"], by_path, made=made)
        pending = session.pending()
        if pending:
            items += self.request_items(thread, session.values().get("request", ""), by_path)
            items.append(Item("assistant", text="waiting for plan review: " + plan_summary(pending["plan"])))
        return items

    def request_items(self, thread: str, request: str, by_path: dict[str, dict]) -> list[Item]:
        shown = MENTION_RE.sub(lambda m: _file_word(mention_path(m.group(0)), by_path), request).strip()
        items = [Item("user", text=shown or "(files)")]
        for m in MENTION_RE.finditer(request):
            items += self.media_items(
                "user", thread, str(Path(mention_path(m.group(0))).expanduser().resolve()), by_path
            )
        return items

    def result_items(
        self,
        thread: str,
        results: list[dict],
        errors: list[dict],
        by_path: dict[str, dict],
        *,
        made: list[str] = (),
    ) -> list[Item]:
        """A turn's answers, errors and files. Every file the turn registered (``made``: outputs and the maps an
        annotator prepared, a mask, a control map) is shown once with its id, in id order: a step's prepared maps
        and outputs with its answer, files of a step that then failed before its error."""
        from unison_agent.core.demo import DEMO_NOTE

        def files(paths: list[str]) -> list[Item]:
            fresh = [p for p in dict.fromkeys(paths) if p not in shown]
            shown.update(fresh)
            fresh.sort(key=lambda p: by_path.get(p, {}).get("id", 1 << 62))
            return [i for p in fresh for i in self.media_items("assistant", thread, p, by_path)]

        shown: set[str] = set()
        items: list[Item] = []
        for r in results:
            if r.get("status") == "cancelled":
                items.append(Item("assistant", text=f"cancelled: {r.get('request', '')}"))
                continue
            notes = [n for n in r.get("notes", []) if n != DEMO_NOTE]
            text = r.get("answer", "") if not r.get("outputs") else f"**{r['task']}** {r.get('answer', '')}".strip()
            if not r.get("outputs"):  # an answer: say what it was about ("video_understanding of #2")
                inputs = [i["path"] for i in (r.get("plan") or {}).get("inputs", [])]
                used = ", ".join(f"#{by_path[p]['id']}" for p in inputs if p in by_path)
                text += f"\n\n_{r['task']}{' of ' + used if used else ''}_"
            if notes:
                text += "\n\n" + "\n".join(f"_note: {n}_" for n in notes)
            items.append(Item("assistant", text=text))
            items += files([*r.get("prepared", []), *r.get("outputs", [])])
        items += files(list(made))
        for e in errors:
            items.append(Item("assistant", text=f"error: {e['error']}"))
        return items

    def media_items(self, role: str, thread: str, path: str, by_path: dict[str, dict]) -> list[Item]:
        item = by_path.get(path)
        kind = (item or {}).get("kind") or MEDIA_SUFFIXES.get(Path(path).suffix.lower())
        if kind is None or not self.readable(thread, path):
            return []
        what = (item or {}).get("task") if (item or {}).get("origin") == "annotation" else None
        return [Item(role, path=path, kind=kind, media_id=(item or {}).get("id"), what=what)]

    def close(self) -> None:
        try:
            self._saver.conn.close()
        except Exception:
            pass


def _file_word(path: str, by_path: dict[str, dict]) -> str:
    """A mentioned file as the chat shows it: its name and id, or the path as typed when it never became media
    (a refused path)."""
    item = by_path.get(str(Path(path).expanduser().resolve()))
    return f"`{Path(path).name}` (#{item['id']})" if item else f"`{path}`"


def _failed(thread: str, message: str):
    from unison_agent.core.session import TurnResult

    return TurnResult(thread=thread, request="", errors=[{"step": 0, "request": "", "error": message}])


def plan_summary(plan: dict[str, Any]) -> str:
    """``text_to_video 64x64, 5 frames at 16 fps`` — one line for a plan."""
    parts = [plan["task"]]
    if plan.get("width"):
        parts.append(f"{plan['width']}x{plan['height']}")
    if plan.get("num_frames") and plan["num_frames"] > 1:
        parts.append(f"{plan['num_frames']} frames at {plan.get('fps') or 16} fps")
    if plan.get("frame_anchor"):
        parts.append(f"{plan['frame_anchor']} frame given")
    if plan.get("control"):
        parts.append(f"control {plan['control']}")
    return ", ".join(parts)
