"""The graph's nodes, one job each, and the typed routers between them.

``intake`` starts a turn; ``prepare`` resolves and plans the current step (:func:`unison_agent.core.prepare.prepare_step`,
the same function ``unison plan`` calls); ``annotate`` runs an annotator (the step's answer, or a control map /
edit mask the step needs); ``confirm`` lets a person review the plan (a LangGraph interrupt); ``generate`` and
``understand`` run the step; ``finish`` closes the turn. Nodes return state updates; the routers decide where
control goes next from the state alone.

Errors: a :class:`~unison_agent.contract.errors.UnisonError` is the person's problem (a bad file, an impossible plan) and is
recorded with its message; any other exception is a bug: the step fails with "internal error (logged to <file>)"
and the traceback goes to the error log under ``UNISON_HOME/logs``. Either way the thread stays usable.

Progress goes out through LangGraph's custom stream (:mod:`unison_agent.core.progress`): ``{"event": "stage", ...}``
when a stage begins (planning, annotating, checking here; loading, denoising, decoding, writing and understanding
where the tools do that work), ``{"event": "step", ...}`` per denoising step, with elapsed and remaining time,
``{"event": "token", ...}`` per answer token, ``{"event": "status", ...}`` for a retried attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp
from langgraph.types import interrupt

from unison_agent.contract.errors import (
    PlanError,
    SettingsError,
    TurnCancelled,
    UnisonError,
    describe_os_error,
    log_internal_error,
)
from unison_agent.contract.mentions import find_mentions
from unison_agent.contract.plan import GENERATION_FIELDS, PLAN_FIELDS, Plan
from unison_agent.contract.settings import Settings, check_overrides
from unison_agent.core import boundary, present, progress
from unison_agent.core.prepare import Guard, Job, apply_changes, jobs_for, parse_decision, prepare_step
from unison_agent.core.reviews import close_review, open_review, with_settings
from unison_agent.core.steps import split_steps
from unison_agent.core.verify import CheckResult, attempt_summary, checks_for, preserve_score, retry_changes, score
from unison_agent.core.verify import to_json as verify_json
from unison_agent.graphs.state import AgentState, StepResult, clear_step, plan_json, plan_of, reset_turn
from unison_agent.graphs.toolbox import Toolbox
from unison_agent.media import store as media_store
from unison_agent.media.files import kind_of
from unison_agent.models.pipeline import GenerationResult, keep_attempt

HISTORY_LIMIT = 20
"""At most this many earlier messages are shown to the understanding model (the newest ones)."""

Update = dict[str, Any]


def _writer() -> Callable[[dict[str, Any]], None]:
    return progress.writer()  # a no-op outside a run (direct unit use)


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
    plan = plan_of(state)
    if plan is None:  # nothing to run (an annotator answer already finished the step)
        return "finish"
    if not plan.task.is_generation:
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
    """Refuses files a step may not read (see ``unison_agent.core.prepare.resolve_step``); None: no limit."""
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
        :class:`~unison_agent.core.boundary.Boundary`, the checked copies of those files (read as they were checked)."""
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
        error = {
            "step": state.get("step_index", 0),
            "request": state.get("step_text") or _current(state),
            "error": message,
            "type": type(exc).__name__,
            "plan": plan_json(state.get("plan")),
            "internal": internal,
        }
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
        message = {
            "role": "assistant",
            "content": present.message_text(result.answer, result.outputs),
            "media": list(result.outputs),
            "turn": state["turn"],
        }
        update: Update = {
            "results": [result],
            "messages": [message],
            "step_index": state.get("step_index", 0) + 1,
            **clear_step(),
        }
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
            n = len(state.get("steps") or [])
            progress.stage("planning", "planning" if n <= 1 else f"planning step {i + 1} of {n}")
            results = state.get("results") or []
            previous = StepResult.of(results[-1]).outputs if i > 0 and results else []
            step, resolved = prepare_step(
                state["steps"][i],
                index=i,
                settings=self.settings,
                planner=self.tools.planner(self.settings),
                media=state.get("media") or [],
                previous=previous,
                overrides=state.get("overrides") or {},
                turn=state["turn"],
                guard=self.guard,
            )
            return {
                "step_text": step.text,
                "media": resolved.new_media,
                "jobs": [j.to_json() for j in step.jobs],
                "plan": step.plan,
                "step_notes": list(step.notes),
                "prepared": {},
            }

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
            progress.stage("annotating", f"running the {what} annotator", annotator=job.kind)
            started = time.perf_counter()
            made = self.tools.annotate(job.kind, src, out, self.settings, target=job.target)
            media = list(state.get("media") or [])
            registry, item = media_store.register(
                media, made.path, kind_of(made.path), origin="annotation", turn=state["turn"], task=job.kind
            )
            new_media = registry[len(media) :]
            notes = [str(n) for n in getattr(made, "notes", [])]
            if job.purpose != "answer":
                return {
                    "media": new_media,
                    "jobs": state["jobs"][1:],
                    "prepared": {**(state.get("prepared") or {}), str(job.role): item["path"]},
                    "step_notes": [*(state.get("step_notes") or []), *notes],
                }
            src_id = next((m["id"] for m in registry if m["path"] == str(src.resolve())), "?")
            result = StepResult(
                step=state.get("step_index", 0),
                request=state.get("step_text") or "",
                task=f"annotate:{job.kind}",
                answer=present.annotation_answer(job.kind, job.target, src_id, item["id"]),
                outputs=[item["path"]],
                notes=notes,
                files=made_files(registry, {}, [item["path"]]),
                timings={"total_s": round(time.perf_counter() - started, 3)},
            )
            return self.finished_step(state, result, new_media)

        return self.guarded(state, body)

    def confirm(self, state: AgentState) -> Update:
        """Human in the loop: show the plan, then accept, change fields, or cancel (a LangGraph interrupt). The
        decision is recorded in ``reviews`` (:mod:`unison_agent.core.reviews`): the first plan, what changed, the
        plan that runs."""
        plan = plan_of(state)
        decision = interrupt(
            {
                "plan": plan_json(plan),
                "step": state.get("step_index", 0),
                "request": state.get("step_text") or "",
                "notice": state.get("notice"),
                "prepared": dict(state.get("prepared") or {}),
                "question": "accept, change fields (e.g. {'width': 480} or 'num_frames=33'), or cancel?",
            }
        )
        action, changes = parse_decision(decision)
        review = state.get("review") or open_review(
            plan,
            turn=int(state.get("turn", 0)),
            step=int(state.get("step_index", 0)),
            text=state.get("step_text") or "",
            media=state.get("media") or [],
        )
        if action == "accept":
            return {"decision": "accept", "notice": None, "review": None, "reviews": [close_review(review, plan)]}
        if action == "cancel":
            result = StepResult(
                step=state.get("step_index", 0),
                request=state.get("step_text") or "",
                task=plan.task.value,
                answer=present.CANCELLED,
                plan=plan,
                notes=[present.CANCELLED_NOTE],
                status="cancelled",
            )
            return {
                "decision": "cancel",
                "results": [result],
                "reviews": [close_review(review, plan, cancelled=True)],
                **{k: v for k, v in clear_step().items() if k != "decision"},
            }
        plan_changes = {k: v for k, v in changes.items() if k in (*PLAN_FIELDS, "roles")}
        gen_changes = {k: v for k, v in changes.items() if k in GENERATION_FIELDS}
        unknown = sorted(set(changes) - set(plan_changes) - set(gen_changes))
        if unknown:
            changeable = ", ".join((*PLAN_FIELDS, "roles", *GENERATION_FIELDS))
            notice = f"unknown field(s) {', '.join(unknown)}; changeable: {changeable}"
            return {"decision": "change", "notice": notice, "review": review}
        try:
            gen_changes = check_overrides(gen_changes, "changes")  # a NaN guidance, a seed of 2**80: refused here
            new_plan, notes = apply_changes(plan, plan_changes)
        except (PlanError, SettingsError) as exc:
            return {"decision": "change", "notice": str(exc), "review": review}
        update: Update = {
            "decision": "change",
            "review": with_settings(review, list(gen_changes)),
            "plan": new_plan,
            "notice": "changed",
            "overrides": {**(state.get("overrides") or {}), **gen_changes},
            "step_notes": [*(state.get("step_notes") or []), *notes],
        }
        before = [j.to_json() for j in jobs_for(plan)]
        needed = [j.to_json() for j in jobs_for(new_plan)]
        if needed != before:  # the change needs other maps (another control kind, another edit target...)
            update.update(jobs=needed, prepared={})
        return update

    def understand(self, state: AgentState) -> Update:
        """Answer a question about text, images or videos, with the conversation so far."""

        def body() -> Update:
            plan = plan_of(state)
            write = _writer()
            turn = state["turn"]
            history = [
                {"role": m["role"], "content": m["content"], "media": self.allowed(m.get("media", []))}
                for m in state.get("messages", [])
                if m.get("turn", 0) < turn
            ][-HISTORY_LIMIT:]
            started = time.perf_counter()
            if plan.answer and not plan.inputs and not history:
                answer = plan.answer
                progress.stage("understanding", "answering")
                write({"event": "token", "text": answer})
            else:  # the tool reports loading (a first use) and understanding

                def on_token(t: str) -> None:
                    self.check_cancelled()
                    write({"event": "token", "text": t})

                answer = self.tools.understand(plan, self.settings, history=history, on_token=on_token)
            if not (answer or "").strip():  # never an empty answer: say that the model gave none
                answer = present.no_answer(self.settings.demo)
                write({"event": "token", "text": answer})
            result = StepResult(
                step=state.get("step_index", 0),
                request=state.get("step_text") or "",
                task=plan.task.value,
                answer=answer,
                plan=plan,
                notes=list(state.get("step_notes") or []),
                timings={"total_s": round(time.perf_counter() - started, 3)},
            )
            return self.finished_step(state, result)

        return self.guarded(state, body)

    def generate(self, state: AgentState, config: RunnableConfig) -> Update:
        """Create or edit an image or a video from the plan; outputs go to outputs_dir/<thread>/."""

        def body() -> Update:
            plan = plan_of(state)
            overrides = {**(state.get("overrides") or {}), **(state.get("retry") or {})}

            def on_step(i: int, n: int) -> None:  # the tool reports loading, denoising, decoding and writing
                self.check_cancelled()
                progress.step("denoising", int(i), int(n), task=plan.task.value)

            prepared = dict(state.get("prepared") or {})
            made = GenerationResult.of(
                self.tools.generate(
                    plan,
                    self.step_settings(overrides),
                    out_dir=self.out_dir(config),
                    seed=overrides.get("seed"),
                    on_step=on_step,
                    files=prepared,
                )
            )
            if self.verify_attempts(state) > 0:
                return {"attempts": [*(state.get("attempts") or []), {"made": made}]}
            return self.keep(state, plan, made)

        return self.guarded(state, body)

    def keep(
        self, state: AgentState, plan: Plan, made: GenerationResult, checked: str = "", notes: Sequence[str] = ()
    ) -> Update:
        """Register a generation's outputs as media and finish the step with its result."""
        media = list(state.get("media") or [])
        registry, outputs = media, []
        for p in made.outputs:
            registry, item = media_store.register(
                registry, p, plan.task.output, origin="output", turn=state["turn"], task=plan.task.value
            )
            outputs.append(item["path"])
        ids = [m["id"] for m in registry if m["path"] in outputs]
        size = present.size_text(plan.task.output, made.width, made.height, made.num_frames)
        prepared = dict(state.get("prepared") or {})
        files = made_files(registry, prepared, outputs)
        result = StepResult(
            step=state.get("step_index", 0),
            request=state.get("step_text") or "",
            task=plan.task.value,
            answer=present.generation_answer(
                plan.task.output,
                ids,
                size,
                checked=checked,
                warnings=made.warnings,
                maps=[f for f in files if f["role"] != "output"],
            ),
            outputs=outputs,
            sidecars=[str(s) for s in made.sidecars],
            plan=plan,
            seed=made.seed,
            notes=[*(state.get("step_notes") or []), *made.notes, *notes],
            prepared=list(prepared.values()),
            files=files,
            timings=dict(made.timings),
        )
        return self.finished_step(state, result, registry[len(media) :])

    def verify(self, state: AgentState, config: RunnableConfig) -> Update:
        """Check the latest attempt against the request; keep the best, or ask for another attempt."""

        def body() -> Update:
            plan = plan_of(state)
            write = _writer()
            checks = state.get("checks") or [vars(c) for c in checks_for(plan, self.settings)]
            attempts = [dict(a) for a in state.get("attempts") or []]
            last = attempts[-1]
            progress.stage("checking", f"checking attempt {len(attempts)} ({len(checks)} checks)")
            results = []
            for c in checks:
                self.check_cancelled()
                if c["kind"] == "preserve":
                    p = preserve_score(
                        plan,
                        str(last["made"].outputs[0]),
                        (state.get("prepared") or {}).get("mask") or getattr(plan.first("mask"), "path", None),
                    )
                else:
                    p = float(self.tools.check(c["question"], [str(last["made"].outputs[0])], self.settings))
                results.append(CheckResult(c["question"], c["kind"], p))
            last.update(score=score(results), checks=verify_json(results), summary=attempt_summary(results))
            threshold = self.settings.verify_threshold
            if last["score"] >= threshold or len(attempts) >= self.verify_attempts(state):
                return self.keep_best(state, plan, attempts, threshold, config)
            seed = (int(last["made"].seed) + 1) % 2**31
            guidance = float((state.get("overrides") or {}).get("guidance", self.settings.guidance))
            retry = {"seed": seed, **retry_changes(len(attempts), plan, guidance)}
            write({"event": "status", "text": f"{last['summary']} (score {last['score']:.2f} < {threshold}); retrying"})
            return {"attempts": attempts, "checks": checks, "retry": retry}

        return self.guarded(state, body)

    def keep_best(self, state: AgentState, plan: Plan, attempts: list[dict], threshold: float, config) -> Update:
        """The best attempt becomes the step's result (its sidecar records every attempt); the writer moves the
        others to ``<outputs>/<thread>/attempts/`` (not deleted)."""
        best = max(range(len(attempts)), key=lambda i: attempts[i]["score"])
        record = [
            {
                "attempt": i + 1,
                "seed": a["made"].seed,
                "score": round(a["score"], 4),
                "checks": a["checks"],
                "kept": i == best,
                "output": Path(a["made"].outputs[0]).name,
            }
            for i, a in enumerate(attempts)
        ]
        chosen = attempts[best]
        keep_attempt(
            chosen["made"],
            [a["made"] for i, a in enumerate(attempts) if i != best],
            self.out_dir(config) / "attempts",
            {"threshold": threshold, "attempts": record},
        )
        checked = present.verification_text(chosen["summary"], len(attempts) - 1, chosen["score"], threshold, best)
        return self.keep(state, plan, chosen["made"], checked, present.attempt_notes(record))

    def finish(self, state: AgentState) -> Update:
        """Close the turn: mark it done and add it to the history."""
        return finish_turn(state)


def finish_turn(state: AgentState | dict[str, Any]) -> Update:
    """The update that closes a turn (the ``finish`` node's; also used to close a turn a dead process left open)."""
    record = {
        "turn": state.get("turn", 0),
        "request": state.get("request", ""),
        "results": state.get("results", []),
        "errors": state.get("errors", []),
        "overrides": dict(state.get("overrides") or {}),  # what /retry sends again
    }
    messages = [
        {"role": "assistant", "content": present.error_text(err), "media": [], "turn": state.get("turn", 0)}
        for err in state.get("errors", [])
    ]
    # confirm and overrides hold for one run: a later run that does not send them (the LangGraph server keeps the
    # thread's state between runs) starts without them
    return {"done": True, "history": [record], "messages": messages, "confirm": False, "overrides": {}, **clear_step()}


def made_files(media: list[dict[str, Any]], prepared: dict[str, str], outputs: list[str]) -> list[dict[str, Any]]:
    """Every file a step made, with its media id: the annotator maps it prepared (role "mask" / "control"), then
    its outputs (role "output"), in id order."""
    roles = {**{path: role for role, path in prepared.items()}, **{path: "output" for path in outputs}}
    return [
        {"id": int(m["id"]), "path": m["path"], "kind": m["kind"], "role": roles[m["path"]]}
        for m in media
        if m["path"] in roles
    ]


def _current(state: AgentState) -> str:
    steps = state.get("steps") or []
    i = state.get("step_index", 0)
    return steps[i] if i < len(steps) else ""
