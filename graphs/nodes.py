"""The graph's nodes. ``planner`` is the router: it plans the current step and sends control (``Command``) to
``understand``, ``annotate``, ``confirm`` or ``generate``; each of those returns control to ``planner``, which
moves on to the next step or to ``finish``.

Nodes receive only serialisable state; settings, tools and the thread's output folder come from the closure
(:class:`Nodes`) and the run's config. Progress goes out through LangGraph's custom stream
(``get_stream_writer``): ``{"event": "step", ...}`` per denoising step, ``{"event": "token", ...}`` per answer
token, ``{"event": "status", ...}`` for loading.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END
from langgraph.types import Command, interrupt
from unison_agent.graphs.state import AgentState
from unison_agent.graphs.steps import annotation_request, split_steps
from unison_agent.graphs.toolbox import Toolbox

from unison_agent import media_store
from unison_agent.errors import PlanError
from unison_agent.settings import Settings

PLAN_FIELDS = ("task", "width", "height", "num_frames", "fps", "frame_anchor", "control", "target", "prompt")
HISTORY_LIMIT = 20
"""At most this many earlier messages are shown to the understanding model (the newest ones)."""
GEN_FIELDS = ("seed", "steps", "guidance", "shift", "context_scale")
_ACCEPT = {"accept", "yes", "y", "ok", "go", "run", ""}
_CANCEL = {"cancel", "no", "n", "stop", "abort", "quit"}


def _writer():
    try:
        return get_stream_writer()
    except Exception:  # called outside a run (direct unit use)
        return lambda _event: None


def thread_of(config: RunnableConfig | None) -> str:
    return str(((config or {}).get("configurable") or {}).get("thread_id") or "default")


def _safe_dir(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "default"


@dataclass
class Nodes:
    """The node functions, closed over the settings and tools."""

    settings: Settings
    tools: Toolbox

    # -- helpers -------------------------------------------------------------------------------------------
    def out_dir(self, config: RunnableConfig | None) -> Path:
        return Path(self.settings.outputs_dir) / _safe_dir(thread_of(config))

    def step_settings(self, overrides: dict[str, Any]) -> Settings:
        changes = {k: overrides[k] for k in ("steps", "guidance", "shift", "context_scale") if k in overrides}
        return self.settings.replace(**changes) if changes else self.settings

    @staticmethod
    def fail(state: AgentState, exc: BaseException, request: str) -> Command:
        errors = [*state.get("errors", []), {
            "step": state.get("step_index", 0),
            "request": request,
            "error": str(exc),
            "type": type(exc).__name__,
            "plan": state.get("plan"),
        }]  # fmt: skip
        return Command(goto="finish", update={"errors": errors, "plan": None, "annotation": None})

    @staticmethod
    def step_text(state: AgentState) -> str:
        steps = state.get("steps") or []
        i = state.get("step_index", 0)
        return steps[i] if i < len(steps) else ""

    def finish_step(self, state: AgentState, result: dict[str, Any], media: list[dict] | None = None) -> Command:
        """Record a finished step and return to the planner for the next one."""
        results = [*state.get("results", []), result]
        text = result.get("answer") or ""
        if result.get("outputs"):
            text = (text + "\n" if text else "") + "\n".join(result["outputs"])
        messages = [*state.get("messages", []), {
            "role": "assistant", "content": text, "media": list(result.get("outputs", [])), "turn": state["turn"],
        }]  # fmt: skip
        update: dict[str, Any] = {
            "results": results,
            "messages": messages,
            "step_index": state.get("step_index", 0) + 1,
            "plan": None,
            "annotation": None,
        }
        if media is not None:
            update["media"] = media
        return Command(goto="planner", update=update)

    # -- nodes ---------------------------------------------------------------------------------------------
    def intake(self, state: AgentState) -> Command[Literal["planner"]]:
        """Start a turn: split the request into steps, note the user's message, reset the turn's fields."""
        request = (state.get("request") or "").strip()
        turn = int(state.get("turn", 0)) + 1
        messages = [*state.get("messages", []), {"role": "user", "content": request, "media": [], "turn": turn}]
        return Command(
            goto="planner",
            update={
                "turn": turn,
                "messages": messages,
                "steps": split_steps(request) if request else [],
                "step_index": 0,
                "plan": None,
                "annotation": None,
                "results": [],
                "errors": [],
                "done": False,
                "media": state.get("media", []),
                "history": state.get("history", []),
            },
        )

    def planner(self, state: AgentState) -> Command[Literal["understand", "annotate", "confirm", "generate", "finish"]]:
        """Plan the current step (or finish) and route to the tool that runs it."""
        steps = state.get("steps") or []
        i = state.get("step_index", 0)
        if state.get("errors") or i >= len(steps):
            return Command(goto="finish")
        raw = steps[i]
        media = list(state.get("media", []))
        try:
            text = raw
            results = state.get("results", [])
            if i > 0 and results and results[-1].get("outputs"):
                text = media_store.bind_previous(text, results[-1]["outputs"])
            text = absolute_mentions(media_store.resolve_references(text, media))
            from unison_agent.planners.base import Request

            request = Request.parse(text)
            for m in request.mentions:
                media, _ = media_store.register(media, m.path, m.kind, origin="input", turn=state["turn"])
            messages = [dict(m) for m in state.get("messages", [])]
            self._note_user_media(messages, [str(Path(m.path).resolve()) for m in request.mentions])
            job = annotation_request(text)
            if job is not None:
                path = str(Path(job.file).expanduser().resolve())
                annotation = {"kind": job.kind, "input": path, "target": job.target, "purpose": "answer",
                              "request": text}  # fmt: skip
                return Command(goto="annotate", update={"annotation": annotation, "media": media, "messages": messages})
            plan = self.tools.plan(request, self.settings)
            plan = self.adjust(plan, request, state.get("overrides") or {})
        except Exception as exc:  # a planner bug or a bad file: recorded, the thread stays usable
            return self.fail({**state, "media": media}, exc, raw)
        update: dict[str, Any] = {"plan": plan.to_json(), "media": media, "messages": messages}
        update["steps"] = [*steps[:i], text, *steps[i + 1 :]]
        if not plan.task.is_generation:
            return Command(goto="understand", update=update)
        if plan.control not in (None, "ready"):
            control = plan.first("control")
            if control is not None:
                update["annotation"] = {"kind": plan.control, "input": str(Path(control.path).resolve()),
                                        "target": None, "purpose": "control", "request": text}  # fmt: skip
                return Command(goto="annotate", update=update)
        return Command(goto="confirm" if state.get("confirm") else "generate", update=update)

    @staticmethod
    def _note_user_media(messages: list[dict], paths: list[str]) -> None:
        for msg in reversed(messages):
            if msg["role"] == "user":
                msg["media"] = list(dict.fromkeys([*msg.get("media", []), *paths]))
                return

    def adjust(self, plan, request, overrides: dict[str, Any]):
        """Apply per-turn plan overrides, and the demo's small default size when the user gave none."""
        changes = {k: overrides[k] for k in PLAN_FIELDS if k in overrides and overrides[k] is not None}
        if self.settings.demo and plan.task.is_generation and not ({"width", "height"} & set(changes)):
            if not _user_gave_size(request):
                from unison_agent.demo import DEMO_HEIGHT, DEMO_WIDTH

                changes.update(width=DEMO_WIDTH, height=DEMO_HEIGHT)
        return plan.with_changes(**changes) if changes else plan

    def confirm(self, state: AgentState) -> Command[Literal["generate", "confirm", "finish"]]:
        """Human in the loop: show the plan, then accept, change fields, or cancel (a LangGraph interrupt)."""
        from unison_agent.plan import Plan

        plan = state["plan"]
        decision = interrupt({
            "plan": plan, "step": state.get("step_index", 0), "request": self.step_text(state),
            "notice": state.get("notice"),
            "question": "accept, change fields (e.g. {'width': 480} or 'num_frames=33'), or cancel?",
        })  # fmt: skip
        action, changes = parse_decision(decision)
        if action == "accept":
            return Command(goto="generate", update={"notice": None})
        if action == "cancel":
            result = {"step": state.get("step_index", 0), "request": self.step_text(state), "task": plan["task"],
                      "answer": "cancelled", "outputs": [], "plan": plan, "notes": ["cancelled before generation"],
                      "status": "cancelled"}  # fmt: skip
            results = [*state.get("results", []), result]
            return Command(goto="finish", update={"results": results, "plan": None, "notice": None})
        plan_changes = {k: v for k, v in changes.items() if k in PLAN_FIELDS}
        gen_changes = {k: v for k, v in changes.items() if k in GEN_FIELDS}
        unknown = sorted(set(changes) - set(plan_changes) - set(gen_changes))
        if unknown:
            notice = f"unknown field(s) {', '.join(unknown)}; changeable: {', '.join(PLAN_FIELDS + GEN_FIELDS)}"
            return Command(goto="confirm", update={"notice": notice})
        try:
            new_plan = Plan.from_json(plan).with_changes(**plan_changes).to_json() if plan_changes else plan
        except PlanError as exc:
            return Command(goto="confirm", update={"notice": str(exc)})
        overrides = {**(state.get("overrides") or {}), **gen_changes}
        return Command(goto="confirm", update={"plan": new_plan, "overrides": overrides, "notice": "changed"})

    def understand(self, state: AgentState) -> Command[Literal["planner", "finish"]]:
        """Answer a question about text, images or videos, with the conversation so far."""
        from unison_agent.plan import Plan

        plan = Plan.from_json(state["plan"])
        write = _writer()
        turn = state["turn"]
        history = [{"role": m["role"], "content": m["content"], "media": list(m.get("media", []))}
                   for m in state.get("messages", []) if m.get("turn", 0) < turn][-HISTORY_LIMIT:]  # fmt: skip
        started = time.perf_counter()
        try:
            if plan.answer and not plan.inputs and not history:
                answer = plan.answer
                write({"event": "token", "text": answer})
            else:
                write({"event": "status", "text": "loading the understanding model"})
                answer = self.tools.understand(
                    plan, self.settings, history=history,
                    on_token=lambda t: write({"event": "token", "text": t}),
                )  # fmt: skip
        except Exception as exc:
            return self.fail(state, exc, self.step_text(state))
        result = {"step": state.get("step_index", 0), "request": self.step_text(state), "task": plan.task.value,
                  "answer": answer, "outputs": [], "plan": plan.to_json(), "notes": [], "status": "ok",
                  "timings": {"total_s": round(time.perf_counter() - started, 3)}}  # fmt: skip
        return self.finish_step(state, result)

    def annotate(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["planner", "confirm", "generate", "finish"]]:
        """Run an annotator: as the answer to a request ("the depth of ..."), or to prepare a control input."""
        job = state["annotation"]
        src = Path(job["input"])
        ext = ".mp4" if src.suffix.lower() in {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"} else ".png"
        out = self.out_dir(config) / f"{job['kind']}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}{ext}"
        write = _writer()
        write({"event": "status", "text": f"running the {job['kind']} annotator"})
        started = time.perf_counter()
        try:
            path = Path(self.tools.annotate(job["kind"], src, out, self.settings, target=job.get("target")))
        except Exception as exc:
            return self.fail(state, exc, self.step_text(state))
        media, item = media_store.register(state.get("media", []), path, "video" if ext == ".mp4" else "image",
                                           origin="annotation", turn=state["turn"], task=job["kind"])  # fmt: skip
        if job["purpose"] == "control":
            from unison_agent.plan import Plan

            plan = Plan.from_json(state["plan"])
            inputs = [i.model_copy(update={"path": item["path"], "kind": item["kind"]}) if i.role == "control" else i
                      for i in plan.inputs]  # fmt: skip
            plan = plan.with_changes(inputs=[i.model_dump() for i in inputs], control="ready")
            prepared = [*state.get("prepared", []), item["path"]]
            goto = "confirm" if state.get("confirm") else "generate"
            return Command(goto=goto, update={"plan": plan.to_json(), "media": media, "annotation": None,
                                              "prepared": prepared})  # fmt: skip
        target = f" ({job['target']})" if job.get("target") else ""
        result = {"step": state.get("step_index", 0), "request": self.step_text(state), "task": f"annotate:{job['kind']}",
                  "answer": f"{job['kind']}{target} of #{_id_of(media, str(src))} saved as #{item['id']}",
                  "outputs": [item["path"]], "plan": None, "notes": [], "status": "ok",
                  "timings": {"total_s": round(time.perf_counter() - started, 3)}}  # fmt: skip
        return self.finish_step(state, result, media)

    def generate(self, state: AgentState, config: RunnableConfig) -> Command[Literal["planner", "finish"]]:
        """Create or edit an image or a video from the plan; outputs go to outputs_dir/<thread>/."""
        from unison_agent.plan import Plan

        plan = Plan.from_json(state["plan"])
        overrides = state.get("overrides") or {}
        settings = self.step_settings(overrides)
        write = _writer()
        write({"event": "status", "text": "loading the generation models"})

        def on_step(i: int, n: int) -> None:
            write({"event": "step", "step": int(i), "total": int(n), "task": plan.task.value})

        try:
            res = self.tools.generate(plan, settings, out_dir=self.out_dir(config), seed=overrides.get("seed"),
                                      on_step=on_step)  # fmt: skip
        except Exception as exc:
            return self.fail(state, exc, self.step_text(state))
        media = list(state.get("media", []))
        outputs = []
        for p in res.outputs:
            media, item = media_store.register(media, p, plan.task.output, origin="output", turn=state["turn"],
                                               task=plan.task.value)  # fmt: skip
            outputs.append(item["path"])
        ids = ", ".join(f"#{m['id']}" for m in media if m["path"] in outputs)
        notes = [str(n) for n in res.notes]
        if self.settings.demo:
            from unison_agent.demo import DEMO_NOTE

            notes.append(DEMO_NOTE)
        # what was made (generation keeps a source's aspect ratio and never upscales, so it may differ from the plan)
        width, height = getattr(res, "width", plan.width), getattr(res, "height", plan.height)
        frames = getattr(res, "num_frames", plan.num_frames)
        made = f"{width}x{height}" + (f", {frames} frames" if plan.task.output == "video" else "")
        result = {"step": state.get("step_index", 0), "request": self.step_text(state), "task": plan.task.value,
                  "answer": f"{plan.task.output} {ids} ({made})",
                  "outputs": outputs, "sidecars": [str(s) for s in res.sidecars], "plan": plan.to_json(),
                  "seed": int(res.seed), "notes": notes, "prepared": list(state.get("prepared", [])),
                  "timings": {k: float(v) for k, v in (res.timings or {}).items()}, "status": "ok"}  # fmt: skip
        cmd = self.finish_step(state, result, media)
        cmd.update["prepared"] = []
        return cmd

    def finish(self, state: AgentState) -> Command[Literal["__end__"]]:
        """Close the turn: mark it done and add it to the history."""
        record = {"turn": state.get("turn", 0), "request": state.get("request", ""),
                  "results": state.get("results", []), "errors": state.get("errors", [])}  # fmt: skip
        history = [*state.get("history", []), record]
        messages = list(state.get("messages", []))
        for err in state.get("errors", []):
            messages.append({"role": "assistant", "content": f"error: {err['error']}", "media": [],
                             "turn": state.get("turn", 0)})  # fmt: skip
        return Command(goto=END, update={"done": True, "history": history, "messages": messages, "plan": None})


def parse_decision(decision: Any) -> tuple[str, dict[str, Any]]:
    """accept / cancel / change: from True/False, "accept"/"cancel", {"action": ..., "changes": {...}}, a dict of
    fields, or text like "width=480 num_frames=33"."""
    if decision is True or decision is None:
        return "accept", {}
    if decision is False:
        return "cancel", {}
    if isinstance(decision, dict):
        action = str(decision.get("action", "change")).lower()
        if action in _ACCEPT and "changes" not in decision:
            return "accept", {}
        if action in _CANCEL:
            return "cancel", {}
        changes = decision.get("changes", {k: v for k, v in decision.items() if k != "action"})
        return ("change", dict(changes)) if changes else ("accept", {})
    text = str(decision).strip()
    if text.lower() in _ACCEPT:
        return "accept", {}
    if text.lower() in _CANCEL:
        return "cancel", {}
    changes: dict[str, Any] = {}
    for part in text.replace(",", " ").split():
        if "=" not in part:
            return "change", {"?": part}
        key, value = part.split("=", 1)
        changes[key.strip()] = _coerce(value.strip())
    return "change", changes


def _coerce(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return None if value.lower() in {"none", "null"} else value


def absolute_mentions(text: str) -> str:
    """Rewrite every mention as ``###/absolute/path###`` (the thread may be resumed from another folder)."""
    from unison_agent.mentions import find_mentions

    out, pos = [], 0
    for m in find_mentions(text, check=False):
        out.append(text[pos : m.start])
        out.append(f"###{Path(m.path).expanduser().resolve()}###")
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def _id_of(media: list[dict], path: str) -> str:
    path = str(Path(path).resolve())
    for m in media:
        if m["path"] == path:
            return str(m["id"])
    return "?"


def _user_gave_size(request) -> bool:
    try:
        from unison_agent.planners.rules import explicit_values

        values = explicit_values(request)
        return values.get("width") is not None or values.get("height") is not None
    except ImportError:
        import re

        return bool(re.search(r"\b\d{2,4}\s*[x×]\s*\d{2,4}\b|\b\d{3,4}p\b", request.text))
