"""The graph's nodes, one job each, and the typed routers between them.

``intake`` starts a turn; ``prepare`` resolves and plans the current step (:func:`unison_agent.prepare.prepare_step`,
the same function ``unison plan`` calls); ``annotate`` runs an annotator (the step's answer, or a control map /
edit mask the step needs); ``confirm`` lets a person review the plan (a LangGraph interrupt); ``generate`` and
``understand`` run the step; ``finish`` closes the turn. Nodes return state updates; the routers decide where
control goes next from the state alone.

Errors: a :class:`~unison_agent.errors.UnisonError` is the person's problem (a bad file, an impossible plan) and is
recorded with its message; any other exception is a bug: the step fails with "internal error (logged to <file>)"
and the traceback goes to the error log under ``UNISON_HOME/logs``. Either way the thread stays usable.

Progress goes out through LangGraph's custom stream: ``{"event": "step", ...}`` per denoising step,
``{"event": "token", ...}`` per answer token, ``{"event": "status", ...}`` for loading and annotating.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.types import interrupt
from unison_agent.graphs.state import AgentState, StepResult, clear_step, reset_turn
from unison_agent.graphs.toolbox import Toolbox

from unison_agent import boundary, media_store
from unison_agent.errors import (
    PlanError,
    SettingsError,
    TurnCancelled,
    UnisonError,
    describe_os_error,
    log_internal_error,
)
from unison_agent.media import kind_of, write_json
from unison_agent.mentions import find_mentions
from unison_agent.plan import GENERATION_FIELDS, PLAN_FIELDS, Plan
from unison_agent.prepare import Guard, Job, apply_changes, jobs_for, prepare_step
from unison_agent.settings import Settings, check_overrides
from unison_agent.steps import split_steps
from unison_agent.verify import CheckResult, attempt_summary, checks_for, preserve_score, retry_changes, score
from unison_agent.verify import to_json as verify_json

HISTORY_LIMIT = 20
"""At most this many earlier messages are shown to the understanding model (the newest ones)."""
_ACCEPT = {"accept", "yes", "y", "ok", "go", "run", ""}
_CANCEL = {"cancel", "no", "n", "stop", "abort", "quit"}

Update = dict[str, Any]


def _writer() -> Callable[[dict[str, Any]], None]:
    try:
        return get_stream_writer()
    except Exception:  # called outside a run (direct unit use)
        return lambda _event: None


def thread_of(config: RunnableConfig | None) -> str:
    return str(((config or {}).get("configurable") or {}).get("thread_id") or "default")


# ----------------------------------------------------------------------------------------------------------
# routers


def route_start(state: AgentState) -> Literal["prepare", "finish"]:
    """After intake, and after a finished step: the next step, or the end of the turn."""
    if state.get("errors") or state.get("step_index", 0) >= len(state.get("steps") or []):
        return "finish"
    return "prepare"


def route_step(state: AgentState) -> Literal["annotate", "understand", "confirm", "generate", "finish"]:
    """After prepare / annotate: what the prepared step needs next."""
    if state.get("errors"):
        return "finish"
    if state.get("jobs"):
        return "annotate"
    plan = state.get("plan")
    if plan is None:  # nothing to run (an annotator answer already finished the step)
        return "finish"
    if not Plan.from_json(plan).task.is_generation:
        return "understand"
    return "confirm" if state.get("confirm") else "generate"


def route_after_annotate(
    state: AgentState,
) -> Literal["prepare", "annotate", "understand", "confirm", "generate", "finish"]:
    """An annotator answer finished its step (go on with the next one); a prepared map leads to the step."""
    if not state.get("errors") and state.get("step_text") is None:
        return route_start(state)
    return route_step(state)


def route_after_generate(state: AgentState) -> Literal["verify", "prepare", "finish"]:
    """A new attempt waiting for its checks goes to verify; otherwise on to the next step."""
    attempts = state.get("attempts") or []
    if not state.get("errors") and attempts and "score" not in attempts[-1]:
        return "verify"
    return route_start(state)


def route_after_verify(state: AgentState) -> Literal["generate", "prepare", "finish"]:
    """Another attempt (the step is still open) or on to the next step."""
    if not state.get("errors") and state.get("step_text") is not None:
        return "generate"
    return route_start(state)


def route_after_confirm(state: AgentState) -> Literal["annotate", "confirm", "generate", "finish"]:
    decision = state.get("decision")
    if decision == "accept":
        return "generate"
    if decision == "cancel":
        return "finish"
    return "annotate" if state.get("jobs") else "confirm"


# ----------------------------------------------------------------------------------------------------------
# nodes


@dataclass
class Nodes:
    """The node functions, closed over the settings and tools."""

    settings: Settings
    tools: Toolbox
    guard: Guard | None = None
    """Refuses files a step may not read (see ``unison_agent.prepare.resolve_step``); None: no limit."""
    cancelled: Callable[[], bool] | None = None
    """Polled at every denoising step and answer token; True stops the turn (``TurnCancelled``)."""

    def check_cancelled(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise TurnCancelled("cancelled: the turn was stopped before it finished; the thread is ready for the next")

    # -- helpers -------------------------------------------------------------------------------------------
    def out_dir(self, config: RunnableConfig | None) -> Path:
        return boundary.outputs_dir(self.settings, thread_of(config))

    def verify_attempts(self, state: AgentState) -> int:
        """Attempts per generation for this turn: the turn's ``verify_attempts`` override, else the setting."""
        value = (state.get("overrides") or {}).get("verify_attempts")
        return int(self.settings.verify_attempts if value is None else value)

    def step_settings(self, overrides: dict[str, Any]) -> Settings:
        changes = {k: overrides[k] for k in GENERATION_FIELDS if k != "seed" and overrides.get(k) is not None}
        return self.settings.replace(**changes) if changes else self.settings

    def allowed(self, paths: list[str]) -> list[str]:
        """The paths the guard lets through (history shown to the understanding model is filtered too); with a
        :class:`~unison_agent.boundary.Boundary`, the checked copies of those files (read as they were checked)."""
        if self.guard is None:
            return list(paths)
        admit = getattr(self.guard, "admit", None)
        kept = []
        for p in paths:
            try:
                if admit is not None:
                    p = admit(p)
                else:
                    self.guard(p)
            except UnisonError:
                continue
            kept.append(p)
        return kept

    def failure(self, state: AgentState, exc: BaseException, update: Update | None = None) -> Update:
        """Record a failed step: the person's problem as its message, a bug as 'internal error' + log file."""
        if isinstance(exc, UnisonError):
            message, internal = str(exc), False
        elif isinstance(exc, OSError) and exc.filename:  # our own files: a full disk, a folder not writable
            log_internal_error(self.settings, exc)
            message, internal = describe_os_error(exc), False
        else:
            log = log_internal_error(self.settings, exc)
            message, internal = f"internal error: {type(exc).__name__} (logged to {log})", True
        error = {"step": state.get("step_index", 0), "request": state.get("step_text") or _current(state),
                 "error": message, "type": type(exc).__name__, "plan": state.get("plan"), "internal": internal}  # fmt: skip
        return {**(update or {}), "errors": [error], "jobs": []}

    def guarded(self, state: AgentState, body: Callable[[], Update]) -> Update:
        try:
            return body()
        except GraphBubbleUp:  # LangGraph's own control flow (an interrupt)
            raise
        except Exception as exc:
            return self.failure(state, exc)

    def finished_step(self, state: AgentState, result: StepResult, media: list[dict] | None = None) -> Update:
        """Record a finished step and clear the per-step fields (the routers go on with the next step)."""
        text = result.get("answer") or ""
        if result.get("outputs"):
            text = (text + "\n" if text else "") + "\n".join(result["outputs"])
        message = {"role": "assistant", "content": text, "media": list(result.get("outputs", [])),
                   "turn": state["turn"]}  # fmt: skip
        update: Update = {"results": [result], "messages": [message], "step_index": state.get("step_index", 0) + 1,
                          **clear_step()}  # fmt: skip
        if media:
            update["media"] = media
        return update

    # -- nodes ---------------------------------------------------------------------------------------------
    def intake(self, state: AgentState) -> Update:
        """Start a turn: split the request into steps and note the person's message."""
        request = (state.get("request") or "").strip()
        turn = int(state.get("turn", 0)) + 1
        try:
            mentioned = [str(Path(m.path).expanduser().resolve()) for m in find_mentions(request, check=False)]
        except UnisonError:  # a malformed mention: the prepare node reports it
            mentioned = []
        message = {"role": "user", "content": request, "media": mentioned, "turn": turn}
        return {**reset_turn(request, split_steps(request) if request else [], turn), "messages": [message]}

    def prepare(self, state: AgentState) -> Update:
        """Resolve and plan the current step (the same preparation ``unison plan`` shows)."""

        def body() -> Update:
            self.check_cancelled()
            i = state.get("step_index", 0)
            results = state.get("results") or []
            previous = results[-1].get("outputs", []) if i > 0 and results else []
            step, resolved = prepare_step(
                state["steps"][i], index=i, settings=self.settings, planner=self.tools,
                media=state.get("media") or [], previous=previous, overrides=state.get("overrides") or {},
                turn=state["turn"], guard=self.guard,
            )  # fmt: skip
            return {"step_text": step.text, "media": resolved.new_media, "jobs": [j.to_json() for j in step.jobs],
                    "plan": step.plan.to_json() if step.plan is not None else None,
                    "step_notes": list(step.notes), "prepared": {}}  # fmt: skip

        return self.guarded(state, body)

    def annotate(self, state: AgentState, config: RunnableConfig) -> Update:
        """Run the step's next annotator job: as the answer ("the depth of ..."), or to make a map the step needs."""

        def body() -> Update:
            job = Job.from_json(state["jobs"][0])
            src = Path(job.input)
            ext = ".mp4" if kind_of(src) == "video" else ".png"
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
            out = self.out_dir(config) / f"{job.kind}-{stamp}{ext}"
            what = f"{job.kind} ({job.target})" if job.target else job.kind
            _writer()({"event": "status", "text": f"running the {what} annotator"})
            started = time.perf_counter()
            made = self.tools.annotate(job.kind, src, out, self.settings, target=job.target)
            media = list(state.get("media") or [])
            registry, item = media_store.register(media, made.path, kind_of(made.path), origin="annotation",
                                                  turn=state["turn"], task=job.kind)  # fmt: skip
            new_media = registry[len(media) :]
            notes = [str(n) for n in getattr(made, "notes", [])]
            if job.purpose != "answer":
                return {"media": new_media, "jobs": state["jobs"][1:],
                        "prepared": {**(state.get("prepared") or {}), str(job.role): item["path"]},
                        "step_notes": [*(state.get("step_notes") or []), *notes]}  # fmt: skip
            src_id = next((m["id"] for m in registry if m["path"] == str(src.resolve())), "?")
            target = f" ({job.target})" if job.target else ""
            result: StepResult = {
                "step": state.get("step_index", 0), "request": state.get("step_text") or "",
                "task": f"annotate:{job.kind}", "answer": f"{job.kind}{target} of #{src_id} saved as #{item['id']}",
                "outputs": [item["path"]], "plan": None, "notes": notes, "status": "ok",
                "timings": {"total_s": round(time.perf_counter() - started, 3)},
            }  # fmt: skip
            return self.finished_step(state, result, new_media)

        return self.guarded(state, body)

    def confirm(self, state: AgentState) -> Update:
        """Human in the loop: show the plan, then accept, change fields, or cancel (a LangGraph interrupt)."""
        plan = state["plan"]
        decision = interrupt({
            "plan": plan, "step": state.get("step_index", 0), "request": state.get("step_text") or "",
            "notice": state.get("notice"), "prepared": dict(state.get("prepared") or {}),
            "question": "accept, change fields (e.g. {'width': 480} or 'num_frames=33'), or cancel?",
        })  # fmt: skip
        action, changes = parse_decision(decision)
        if action == "accept":
            return {"decision": "accept", "notice": None}
        if action == "cancel":
            result: StepResult = {
                "step": state.get("step_index", 0), "request": state.get("step_text") or "", "task": plan["task"],
                "answer": "cancelled", "outputs": [], "plan": plan, "notes": ["cancelled before generation"],
                "status": "cancelled",
            }  # fmt: skip
            return {
                "decision": "cancel",
                "results": [result],
                **{k: v for k, v in clear_step().items() if k != "decision"},
            }
        plan_changes = {k: v for k, v in changes.items() if k in (*PLAN_FIELDS, "roles")}
        gen_changes = {k: v for k, v in changes.items() if k in GENERATION_FIELDS}
        unknown = sorted(set(changes) - set(plan_changes) - set(gen_changes))
        if unknown:
            changeable = ", ".join((*PLAN_FIELDS, "roles", *GENERATION_FIELDS))
            notice = f"unknown field(s) {', '.join(unknown)}; changeable: {changeable}"
            return {"decision": "change", "notice": notice}
        try:
            gen_changes = check_overrides(gen_changes, "changes")  # a NaN guidance, a seed of 2**80: refused here
            new_plan, notes = apply_changes(Plan.from_json(plan), plan_changes)
        except (PlanError, SettingsError) as exc:
            return {"decision": "change", "notice": str(exc)}
        update: Update = {"decision": "change", "plan": new_plan.to_json(), "notice": "changed",
                          "overrides": {**(state.get("overrides") or {}), **gen_changes},
                          "step_notes": [*(state.get("step_notes") or []), *notes]}  # fmt: skip
        before = [j.to_json() for j in jobs_for(Plan.from_json(plan))]
        needed = [j.to_json() for j in jobs_for(new_plan)]
        if needed != before:  # the change needs other maps (another control kind, another edit target...)
            update.update(jobs=needed, prepared={})
        return update

    def understand(self, state: AgentState) -> Update:
        """Answer a question about text, images or videos, with the conversation so far."""

        def body() -> Update:
            plan = Plan.from_json(state["plan"])
            write = _writer()
            turn = state["turn"]
            history = [{"role": m["role"], "content": m["content"], "media": self.allowed(m.get("media", []))}
                       for m in state.get("messages", []) if m.get("turn", 0) < turn][-HISTORY_LIMIT:]  # fmt: skip
            started = time.perf_counter()
            if plan.answer and not plan.inputs and not history:
                answer = plan.answer
                write({"event": "token", "text": answer})
            else:
                write({"event": "status", "text": "loading the understanding model"})

                def on_token(t: str) -> None:
                    self.check_cancelled()
                    write({"event": "token", "text": t})

                answer = self.tools.understand(plan, self.settings, history=history, on_token=on_token)
            result: StepResult = {
                "step": state.get("step_index", 0), "request": state.get("step_text") or "", "task": plan.task.value,
                "answer": answer, "outputs": [], "plan": plan.to_json(), "notes": list(state.get("step_notes") or []),
                "status": "ok", "timings": {"total_s": round(time.perf_counter() - started, 3)},
            }  # fmt: skip
            return self.finished_step(state, result)

        return self.guarded(state, body)

    def generate(self, state: AgentState, config: RunnableConfig) -> Update:
        """Create or edit an image or a video from the plan; outputs go to outputs_dir/<thread>/."""

        def body() -> Update:
            plan = Plan.from_json(state["plan"])
            overrides = {**(state.get("overrides") or {}), **(state.get("retry") or {})}
            write = _writer()
            write({"event": "status", "text": "loading the generation models"})

            def on_step(i: int, n: int) -> None:
                self.check_cancelled()
                write({"event": "step", "step": int(i), "total": int(n), "task": plan.task.value})

            prepared = dict(state.get("prepared") or {})
            res = self.tools.generate(plan, self.step_settings(overrides), out_dir=self.out_dir(config),
                                      seed=overrides.get("seed"), on_step=on_step, files=prepared)  # fmt: skip
            made = {"outputs": [str(p) for p in res.outputs], "sidecars": [str(s) for s in res.sidecars],
                    "seed": int(res.seed), "notes": [str(n) for n in res.notes],
                    "timings": {k: float(v) for k, v in (res.timings or {}).items()},
                    "width": int(res.width), "height": int(res.height), "num_frames": int(res.num_frames),
                    "warnings": [str(w) for w in getattr(res, "warnings", None) or []]}  # fmt: skip
            if self.verify_attempts(state) > 0:
                return {"attempts": [*(state.get("attempts") or []), made]}
            return self.keep(state, plan, made)

        return self.guarded(state, body)

    def keep(self, state: AgentState, plan: Plan, made: dict[str, Any], checked: str = "") -> Update:
        """Register a generation's outputs as media and finish the step with its result."""
        media = list(state.get("media") or [])
        registry, outputs = media, []
        for p in made["outputs"]:
            registry, item = media_store.register(registry, p, plan.task.output, origin="output",
                                                  turn=state["turn"], task=plan.task.value)  # fmt: skip
            outputs.append(item["path"])
        ids = ", ".join(f"#{m['id']}" for m in registry if m["path"] in outputs)
        size = f"{made['width']}x{made['height']}" + (
            f", {made['num_frames']} frames" if plan.task.output == "video" else ""
        )
        result: StepResult = {
            "step": state.get("step_index", 0), "request": state.get("step_text") or "", "task": plan.task.value,
            "answer": f"{plan.task.output} {ids} ({size})" + (f" — {checked}" if checked else "")
                      + "".join(f". Note: {w}" for w in made.get("warnings") or []),
            "outputs": outputs, "sidecars": list(made["sidecars"]), "plan": plan.to_json(), "seed": made["seed"],
            "notes": [*(state.get("step_notes") or []), *made["notes"]],
            "prepared": list((state.get("prepared") or {}).values()), "timings": made["timings"], "status": "ok",
        }  # fmt: skip
        return self.finished_step(state, result, registry[len(media) :])

    def verify(self, state: AgentState, config: RunnableConfig) -> Update:
        """Check the latest attempt against the request; keep the best, or ask for another attempt."""

        def body() -> Update:
            plan = Plan.from_json(state["plan"])
            write = _writer()
            checks = state.get("checks") or [vars(c) for c in checks_for(plan, self.settings)]
            attempts = [dict(a) for a in state.get("attempts") or []]
            last = attempts[-1]
            write({"event": "status", "text": f"checking attempt {len(attempts)} ({len(checks)} checks)"})
            results = []
            for c in checks:
                self.check_cancelled()
                if c["kind"] == "preserve":
                    p = preserve_score(plan, last["outputs"][0], (state.get("prepared") or {}).get("mask")
                                       or getattr(plan.first("mask"), "path", None))  # fmt: skip
                else:
                    p = float(self.tools.check(c["question"], last["outputs"][:1], self.settings))
                results.append(CheckResult(c["question"], c["kind"], p))
            last.update(score=score(results), checks=verify_json(results), summary=attempt_summary(results))
            threshold = self.settings.verify_threshold
            if last["score"] >= threshold or len(attempts) >= self.verify_attempts(state):
                return self.keep_best(state, plan, attempts, threshold, config)
            seed = (int(last["seed"]) + 1) % 2**31
            guidance = float((state.get("overrides") or {}).get("guidance", self.settings.guidance))
            retry = {"seed": seed, **retry_changes(len(attempts), plan, guidance)}
            write({"event": "status", "text": f"{last['summary']} (score {last['score']:.2f} < {threshold}); retrying"})
            return {"attempts": attempts, "checks": checks, "retry": retry}

        return self.guarded(state, body)

    def keep_best(self, state: AgentState, plan: Plan, attempts: list[dict], threshold: float, config) -> Update:
        """The best attempt becomes the step's result (its sidecar records every attempt); the others are moved
        to ``<outputs>/<thread>/attempts/``, not deleted."""
        best = max(range(len(attempts)), key=lambda i: attempts[i]["score"])
        aside = self.out_dir(config) / "attempts"
        record = [{"attempt": i + 1, "seed": a["seed"], "score": round(a["score"], 4), "checks": a["checks"],
                   "kept": i == best, "output": Path(a["outputs"][0]).name} for i, a in enumerate(attempts)]  # fmt: skip
        for i, a in enumerate(attempts):
            if i == best:
                continue
            aside.mkdir(parents=True, exist_ok=True)
            for f in [*a["outputs"], *a["sidecars"]]:
                if Path(f).exists():
                    Path(f).replace(aside / Path(f).name)
        chosen = dict(attempts[best])
        for sidecar in chosen["sidecars"]:
            if Path(sidecar).exists():
                data = json.loads(Path(sidecar).read_text())
                data["verification"] = {"threshold": threshold, "attempts": record}
                write_json(sidecar, data)
        retried = len(attempts) - 1
        checked = chosen["summary"] + (f"; retried {'once' if retried == 1 else f'{retried} times'}" if retried else "")
        if chosen["score"] < threshold:
            checked += f"; no attempt reached {threshold:.2f}, kept the best (attempt {best + 1})"
        chosen["notes"] = [*chosen["notes"], *(f"attempt {r['attempt']}: score {r['score']:.2f}" for r in record)]
        return self.keep(state, plan, chosen, checked)

    def finish(self, state: AgentState) -> Update:
        """Close the turn: mark it done and add it to the history."""
        return finish_turn(state)


def finish_turn(state: AgentState | dict[str, Any]) -> Update:
    """The update that closes a turn (the ``finish`` node's; also used to close a turn a dead process left open)."""
    record = {"turn": state.get("turn", 0), "request": state.get("request", ""),
              "results": state.get("results", []), "errors": state.get("errors", [])}  # fmt: skip
    messages = [{"role": "assistant", "content": f"error: {err['error']}", "media": [], "turn": state.get("turn", 0)}
                for err in state.get("errors", [])]  # fmt: skip
    return {"done": True, "history": [record], "messages": messages, **clear_step()}


def _current(state: AgentState) -> str:
    steps = state.get("steps") or []
    i = state.get("step_index", 0)
    return steps[i] if i < len(steps) else ""


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
    roles = re.search(r"\broles=([\w,/]+)", text)  # "roles=source,mask" (or source/mask): one role per file
    if roles:
        changes["roles"] = re.split(r"[,/]", roles.group(1))
        text = text[: roles.start()] + text[roles.end() :]
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
