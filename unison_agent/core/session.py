"""``Session``: the one core behind the chat CLI, ``run``, ``chain`` and the LangChain tool.

A session is a named conversation thread checkpointed in SQLite (``settings.threads_db``; ``UNISON_HOME`` moves
it), so a new process resumes where the last one stopped::

    from unison_agent import Session, Settings
    from unison_agent.core.demo import demo_settings   # demo mode: tiny models, built once (a face applies it once)

    s = Session(demo_settings(Settings.resolve({"demo": True})), thread="foxes")
    r = s.send("make a picture of a red fox, then turn it into a 3-second video")
    r.outputs          # ['/.../outputs/foxes/text_to_image-....png', '/.../outputs/foxes/image_to_video-....mp4']
    s.send("what is in the last video?").answer

With ``confirm=True`` a generation waits for a decision: ``r.pending`` holds the plan, and
``s.resume("accept" | "cancel" | {"width": 480})`` continues; each decision is kept in the thread (``s.reviews()``,
:mod:`unison_agent.core.reviews`). ``on_event`` receives progress events (the contract
is in :mod:`unison_agent.core.progress`): ``{"event": "stage", "stage": ..., "text": ...}`` when a stage begins
(planning, loading, annotating, denoising, decoding, writing, understanding, checking), ``{"event": "step",
"stage": ..., "step": i, "total": n, "elapsed_s": ..., "remaining_s": ...}``, ``{"event": "token", "text": ...}``,
``{"event": "node", "node": ...}`` and ``{"event": "status", "text": ...}``.

Several processes may use one threads database at once: SQLite runs in WAL mode with a busy timeout, and a turn
holds the thread's lock file (``<home>/locks/``) from start to end, so two turns on one thread run one after the
other (the second waits up to ``settings.thread_wait`` seconds, then fails with :class:`ThreadBusy`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command, Overwrite

from unison_agent.contract.errors import ThreadBusy, UnisonError
from unison_agent.contract.settings import Settings, check_overrides
from unison_agent.core import boundary, present
from unison_agent.core.prepare import EMPTY_REQUEST, Guard, PreparedStep, prepare_request
from unison_agent.core.reviews import PlanReview
from unison_agent.graphs import toolbox
from unison_agent.graphs.graph import build_graph
from unison_agent.graphs.nodes import finish_turn
from unison_agent.graphs.state import STATE_TYPES, StepResult, plan_json, reset_turn

EventFn = Callable[[dict[str, Any]], None]

INTERRUPTED = (
    "interrupted: the process stopped during this turn (Ctrl-C or killed) and nothing half-written was "
    "kept; /retry (Session.retry) runs it again"
)


@dataclass
class TurnResult:
    """What one turn (or one resumption) produced."""

    thread: str
    request: str
    results: list[StepResult] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    """The confirmation request (plan, question) when the turn waits for ``Session.resume``."""
    demo: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def answer(self) -> str:
        """The answers of the steps, one per line (an error's message when a step failed)."""
        return present.turn_answer(self.results, self.errors)

    @property
    def outputs(self) -> list[str]:
        return [p for r in self.results for p in r.outputs]

    @property
    def files(self) -> list[dict[str, Any]]:
        """Every file the turn made, with its media id: ``{"id", "path", "kind", "role"}`` (role "mask" / "control"
        for an annotator map the step needed, "output" for an output)."""
        return [f for r in self.results for f in r.get("files", [])]

    @property
    def plan(self) -> dict[str, Any] | None:
        if self.pending:
            return self.pending.get("plan")
        for e in reversed(self.errors):
            if e.get("plan"):
                return e["plan"]
        return next((r.plan.to_json() for r in reversed(self.results) if r.plan is not None), None)

    @property
    def task(self) -> str | None:
        """The last step's task (the failed step's, when one failed after planning)."""
        if self.pending:
            return self.pending["plan"]["task"]
        if self.errors and self.errors[-1].get("plan"):
            return self.errors[-1]["plan"]["task"]
        return self.results[-1].task if self.results else None

    def to_json(self) -> dict[str, Any]:
        """{"task", "answer", "outputs", "files", "plan", "thread", "steps", "errors", ["pending"], ["demo"]}."""
        data: dict[str, Any] = {
            "task": self.task,
            "answer": self.answer,
            "outputs": self.outputs,
            "files": self.files,
            "plan": self.plan,
            "thread": self.thread,
            "steps": [{**r.to_json(), "notes": present.step_notes(r, self.demo)} for r in self.results],
            "errors": self.errors,
        }
        if self.pending:
            data["pending"] = self.pending
        if self.demo:
            data["demo"] = True
        return data


def check_request(text: str, settings: Settings) -> None:
    """Refuse, before any work, a request that is not text, is empty, holds a NUL byte, or is longer than
    ``settings.max_request_chars`` (so no face can start unbounded work)."""
    if not isinstance(text, str):
        raise UnisonError(f"the request must be text, got {type(text).__name__}")
    if not text.strip():
        raise UnisonError(EMPTY_REQUEST)
    if "\x00" in text:
        raise UnisonError("the request contains a NUL byte; remove it (file names cannot contain one either)")
    if len(text) > settings.max_request_chars:
        raise UnisonError(
            f"the request has {len(text):,} characters, over the limit of {settings.max_request_chars:,}; shorten it "
            "or raise the setting max_request_chars (env UNISON_MAX_REQUEST_CHARS)"
        )


BUSY_TIMEOUT_S = 30.0
"""How long an SQLite statement waits for another process's write to finish before "database is locked"."""


def connect(path: str | Path) -> sqlite3.Connection:
    """An SQLite connection for a threads database: WAL (readers never block the writer) and a busy timeout."""
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def open_checkpointer(path: str | Path):
    """A SqliteSaver on ``path`` (created with its folder if needed), in WAL mode with a busy timeout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = connect(path)
        saver = SqliteSaver(conn, serde=state_serializer())
        saver.setup()
    except sqlite3.OperationalError as exc:  # not writable, a folder in the way, a full disk
        raise UnisonError(
            f"cannot open the threads database {path}: {exc}; make its folder writable, or point "
            "UNISON_HOME (--home) or threads_db elsewhere"
        ) from None
    return saver


def state_serializer():
    """LangGraph's serializer, allowed to rebuild the state's typed values (``graphs.state.STATE_TYPES``) and no
    other class: they load without LangGraph's "unregistered type" warning, and under ``LANGGRAPH_STRICT_MSGPACK``."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_TYPES))


def list_threads(path: str | Path) -> list[str]:
    """Names of the threads stored in a threads database (most recently used last)."""
    path = Path(path)
    if not path.exists():
        return []
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
    try:
        rows = conn.execute(
            "SELECT thread_id, MAX(checkpoint_id) AS last FROM checkpoints GROUP BY thread_id ORDER BY last"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [r[0] for r in rows]


thread_lock_path = boundary.lock_path
"""The lock file of a thread (``<home>/locks/thread-<name>-<hash>.lock``); the rule lives in ``boundary``."""


@contextmanager
def thread_turn(settings: Settings, thread: str) -> Iterator[None]:
    """Hold ``thread``'s lock for one turn: wait up to ``settings.thread_wait`` seconds, then :class:`ThreadBusy`."""
    from filelock import FileLock, Timeout

    path = thread_lock_path(settings, thread)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=settings.thread_wait)
    except Timeout:
        raise ThreadBusy(
            f"thread busy: another process is running a turn on thread {thread!r} (waited {settings.thread_wait:g} "
            "s); try again when it has finished, use another --thread, or wait longer with the setting thread_wait "
            "(UNISON_THREAD_WAIT)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _pending(snapshot: Any) -> dict[str, Any] | None:
    """The confirmation request a state snapshot waits on, if any."""
    for intr in getattr(snapshot, "interrupts", ()) or ():
        return dict(intr.value)
    return None


class Session:
    """A conversation thread over the agent graph, persisted in SQLite."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        thread: str = "default",
        tools: Any = None,
        confirm: bool | None = None,
        checkpointer: Any = None,
        guard: Guard | None = None,
    ) -> None:
        boundary.safe_name(thread, "thread")  # refused (a NUL byte, empty) before anything is opened or made
        self.settings = settings = settings or Settings.resolve()
        self.thread = thread
        self.confirm = settings.confirm if confirm is None else confirm
        self._own_saver = checkpointer is None
        self.checkpointer = checkpointer or open_checkpointer(settings.threads_db)
        self.tools = tools or toolbox.default_tools()
        self.guard = guard
        self._cancel = threading.Event()
        self.graph = build_graph(settings, self.tools, self.checkpointer, guard, cancelled=self._cancel.is_set)
        self.recover()

    # -- running ---------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread}}

    def send(
        self,
        text: str,
        *,
        overrides: dict[str, Any] | None = None,
        confirm: bool | None = None,
        on_event: EventFn | None = None,
    ) -> TurnResult:
        """Run one turn (all its steps). A failing step is reported in ``errors``; earlier results stay."""
        check_request(text, self.settings)
        payload = {
            "request": text,
            "overrides": check_overrides(overrides or {}),
            "confirm": self.confirm if confirm is None else bool(confirm),
        }
        self._cancel.clear()
        with thread_turn(self.settings, self.thread):
            self._recover()
            self._stream(payload, on_event)
            return self._result(text)

    def retry(self, *, overrides: dict[str, Any] | None = None, on_event: EventFn | None = None) -> TurnResult:
        """Run the last turn's request again, with its overrides unless others are given: after an interruption
        (Ctrl-C, a killed process), a cancel or a failure. Its earlier results stay in the history; the new run is
        a new turn. A long video continues from the last window the stopped run finished
        (:mod:`unison_agent.models.window_work`)."""
        self.recover()
        history = self.history()
        if not history:
            raise UnisonError("nothing to retry: this thread has no turns yet")
        last = history[-1]
        if overrides is None:
            overrides = dict(last.get("overrides") or {})
        return self.send(last["request"], overrides=overrides, on_event=on_event)

    def interrupted(self) -> dict[str, Any] | None:
        """The turn a stopped process left unfinished on this thread ({"turn", "request", "step"}), else None.

        A turn waiting for a plan decision is not interrupted; neither is one another process is running now
        (:meth:`recover` only closes a turn when it can take the thread's lock)."""
        snapshot = self.graph.get_state(self.config)
        values = snapshot.values or {}
        if values.get("done", True) or not values.get("turn") or getattr(snapshot, "interrupts", ()):
            return None
        return {
            "turn": int(values.get("turn", 0)),
            "request": values.get("request", ""),
            "step": int(values.get("step_index", 0)),
        }

    def recover(self) -> bool:
        """Close a turn a stopped process left open (it goes into the history with an "interrupted" error, so
        /history shows it and :meth:`retry` runs it again). Skipped while another process holds the thread."""
        try:
            with thread_turn(self.settings.replace(thread_wait=0), self.thread):
                return self._recover()
        except ThreadBusy:
            return False

    def _recover(self) -> bool:
        info = self.interrupted()
        if info is None:
            return False
        values = self.values()
        steps = values.get("steps") or []
        i = info["step"]
        if i >= len(steps):  # every step finished; only closing the turn was left
            self.graph.update_state(self.config, finish_turn(values), as_node="finish")
            return True
        error = {
            "step": i,
            "request": steps[i],
            "error": INTERRUPTED,
            "type": "Interrupted",
            "plan": plan_json(values.get("plan")),
            "internal": False,
        }
        update = finish_turn({**values, "errors": [*values.get("errors", []), error]})
        self.graph.update_state(self.config, {**update, "errors": [error]}, as_node="finish")
        return True

    def refuse(self, text: str, error: str, *, kind: str = "AccessError") -> TurnResult:
        """Keep a request a face refused before running it (a file it may not read, an upload it cannot take) as
        a finished turn: the person's message and the error stay in the history, the messages and undo, like any
        failed turn. Nothing runs; the media registry is unchanged."""
        text = text.strip() or "(files)"
        with thread_turn(self.settings, self.thread):
            self._recover()
            turn = int(self.values().get("turn", 0)) + 1
            failed = {"step": 0, "request": text, "error": error, "type": kind, "plan": None, "internal": False}
            closed = finish_turn({"turn": turn, "request": text, "results": [], "errors": [failed]})
            said = {"role": "user", "content": text, "media": [], "turn": turn}
            update = {
                **reset_turn(text, [text], turn, errors=[failed], done=True),
                **closed,
                "messages": [said, *closed["messages"]],
            }
            self.graph.update_state(self.config, update, as_node="finish")
            return self._result(text)

    def cancel(self) -> None:
        """Stop the running turn (from another thread, e.g. a Stop button): it ends at the next denoising step or
        answer token with a "cancelled" error; earlier steps' results stay and the thread is ready for more."""
        self._cancel.set()

    def plan(self, text: str, *, overrides: dict[str, Any] | None = None) -> list[PreparedStep]:
        """The plans ``send(text)`` would run on this thread, one per step, without running anything."""
        check_request(text, self.settings)
        overrides = check_overrides(overrides or {})
        return prepare_request(
            text,
            settings=self.settings,
            planner=self.tools.planner(self.settings),
            media=self.media(),
            overrides=overrides,
            guard=self.guard,
        )

    def resume(self, decision: Any = "accept", *, on_event: EventFn | None = None) -> TurnResult:
        """Answer a pending confirmation: "accept", "cancel", or changes ({"width": 480} or "num_frames=33")."""
        with thread_turn(self.settings, self.thread):
            if not self.pending():
                raise UnisonError("nothing is waiting for confirmation on this thread")
            self._cancel.clear()
            self._stream(Command(resume=decision), on_event)
            return self._result(self.values().get("request", ""))

    def _stream(self, payload: Any, on_event: EventFn | None) -> None:
        for mode, chunk in self.graph.stream(payload, self.config, stream_mode=["updates", "custom"]):
            if on_event is None:
                continue
            if mode == "custom":
                on_event(chunk)
            elif isinstance(chunk, dict):
                for node in chunk:
                    if node != "__interrupt__":
                        on_event({"event": "node", "node": node})

    def _result(self, request: str) -> TurnResult:
        snapshot = self.graph.get_state(self.config)  # one read of the checkpoint for values and pending
        values = snapshot.values or {}
        return TurnResult(
            thread=self.thread,
            request=request,
            results=[StepResult.of(r) for r in values.get("results", [])],
            errors=list(values.get("errors", [])),
            pending=_pending(snapshot),
            demo=self.settings.demo,
        )

    # -- inspecting ------------------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The thread's current state values (empty for a new thread)."""
        return dict(self.graph.get_state(self.config).values or {})

    def pending(self) -> dict[str, Any] | None:
        """The confirmation request the thread waits on, if any."""
        return _pending(self.graph.get_state(self.config))

    def media(self) -> list[dict[str, Any]]:
        return list(self.values().get("media", []))

    def messages(self) -> list[dict[str, Any]]:
        return list(self.values().get("messages", []))

    def history(self) -> list[dict[str, Any]]:
        """Finished turns: {"turn", "request", "results" (:class:`StepResult`), "errors"}."""
        return [
            {**h, "results": [StepResult.of(r) for r in h.get("results", [])]} for h in self.values().get("history", [])
        ]

    def reviews(self) -> list[PlanReview]:
        """This thread's decided plan reviews, oldest first (:mod:`unison_agent.core.reviews`)."""
        return [r for r in map(PlanReview.of, self.values().get("reviews") or []) if r.decision]

    def last_plan(self) -> dict[str, Any] | None:
        pending = self.pending()
        if pending:
            return pending["plan"]
        for turn in reversed(self.history()):
            for r in reversed(turn["results"]):
                if r.plan is not None:
                    return r.plan.to_json()
        return None

    # -- changing --------------------------------------------------------------------------------------------
    def undo(self) -> bool:
        """Forget the last turn (its messages, media ids and results; files stay on disk). False if none."""
        with thread_turn(self.settings, self.thread):
            return self._undo()

    def _undo(self) -> bool:
        values = self.values()
        turn = int(values.get("turn", 0))
        if turn <= 0:
            return False
        history = [h for h in values.get("history", []) if h["turn"] < turn]
        last = history[-1] if history else {"request": "", "results": [], "errors": []}
        restored = {
            **reset_turn(last["request"], [], turn - 1, results=last["results"], errors=last["errors"], done=True),
            "messages": Overwrite([m for m in values.get("messages", []) if m.get("turn", 0) < turn]),
            "media": Overwrite([m for m in values.get("media", []) if m.get("turn", 0) < turn]),
            "history": Overwrite(history),
        }
        self.graph.update_state(self.config, restored, as_node="finish")
        return True

    def switch(self, thread: str) -> None:
        """Continue on another (new or existing) thread."""
        boundary.safe_name(thread, "thread")
        self.thread = thread
        self.recover()

    def threads(self) -> list[str]:
        return list_threads(self.settings.threads_db)

    def close(self) -> None:
        if self._own_saver:
            try:
                self.checkpointer.conn.close()
            except Exception:
                pass

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
