"""The Gradio app: chat with uploads, streamed answers, progress, Stop, threads, plan review, settings.

Every handler is a thin translation between Gradio values and :class:`~unison_agent.web.backend.WebChat`; the
named API endpoints (``/send``, ``/open_thread``, ``/new_thread``, ``/undo``, ``/review_run``, ``/review_cancel``,
``/stop``) are what the browser and ``gradio_client`` call.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, get_args

import gradio as gr

from unison_agent.contract.errors import SettingsError
from unison_agent.contract.plan import CONTROL_KINDS, Task
from unison_agent.contract.settings import Settings
from unison_agent.core.demo import demo_defaults
from unison_agent.web.backend import Item, Progress, Update, WebChat, new_thread_name, plan_summary
from unison_agent.web.form import generation_overrides

DEMO_BANNER = "**Demo mode** — tiny random-weight models: outputs are noise (2 steps, small sizes)."
PLANNERS = list(get_args(Settings.model_fields["planner"].annotation))
OFFLOAD = list(get_args(Settings.model_fields["offload"].annotation))
REVIEW_FIELDS = ("task", "width", "height", "num_frames", "fps", "seed", "steps", "frame_anchor", "control", "roles")
CSS = """#chat video, #chat img { max-height: 240px !important; width: auto !important; }
.unison-status progress { width: 14em; vertical-align: middle; }
.unison-stopping { color: #b45309; }"""


def to_messages(items: list[Item]) -> list[dict[str, Any]]:
    """Chat items as Gradio messages: text as Markdown, media as a file message whose alt text is its id."""
    messages = []
    for item in items:
        if item.path is None:
            messages.append({"role": item.role, "content": item.text})
            continue
        messages.append({"role": item.role, "content": [item.label, {"path": item.path, "alt_text": item.label}]})
    return messages


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{round(value)} s"


def progress_html(progress: Progress | None = None, *, text: str = "") -> str:
    """The status line: ``text`` (``ready`` when idle), or a running turn's stage label and, for counted steps
    (denoising step i of N, annotated frame i of n), a ``<progress>`` bar with i/N, elapsed and remaining time;
    after Stop, what the turn still waits for."""
    if progress is None:
        return f"<div class='unison-status'>{html.escape(text or 'ready')}</div>"
    parts = [f"<span class='unison-label'>{html.escape(progress.label)}</span>"]
    if progress.total:
        parts.append(f"<progress class='unison-steps' value='{progress.step}' max='{progress.total}'></progress>")
        parts.append(f"<span class='unison-count'>{progress.step}/{progress.total}</span>")
        timing = [f"{_seconds(progress.elapsed_s)} elapsed"] if progress.elapsed_s is not None else []
        if progress.remaining_s is not None and progress.step < progress.total:
            timing.append(f"about {_seconds(progress.remaining_s)} left")
        if timing:
            parts.append(f"<span class='unison-time'>{' · '.join(timing)}</span>")
    stopping = f"<div class='unison-stopping'>{html.escape(progress.stop_text())}</div>" if progress.stopping else ""
    return f"<div class='unison-status' data-stage='{html.escape(progress.stage)}'>{' '.join(parts)}{stopping}</div>"


def stop_button(state: str):
    """Stop: disabled while idle, red and enabled while a turn runs, disabled ("Stopping…") once pressed."""
    if state == "running":
        return gr.update(value="Stop", interactive=True, variant="stop")
    if state == "stopping":
        return gr.update(value="Stopping…", interactive=False, variant="stop")
    return gr.update(value="Stop", interactive=False, variant="secondary")


class Handlers:
    """What the page's events do: each method is one event's handler over ``chat`` (a :class:`WebChat`); a
    generator streams a turn into the chat view, the status line and the Stop button."""

    def __init__(self, chat: WebChat, *, thread: str | None = None) -> None:
        self.chat = chat
        self.thread = thread
        self.defaults = demo_defaults(chat.settings) if chat.settings.demo else chat.settings
        """What a blank settings field means."""

    def opening_thread(self) -> str:
        return self.thread or new_thread_name()

    # -- handlers --------------------------------------------------------------------------------------------
    def thread_choices(self, current: str):
        names = self.chat.threads()
        if current not in names:
            names = [current, *names]
        return gr.update(choices=names, value=current)

    def review_updates(self, pending: dict[str, Any] | None):
        """The plan review form: hidden, or shown filled with the pending plan."""
        if not pending:
            return [gr.update(visible=False), gr.update(value="")] + [gr.update() for _ in REVIEW_FIELDS]
        plan = pending["plan"]
        roles = "\n".join(f"- {Path(i['path']).name}: **{i['role']}** ({i['kind']})" for i in plan.get("inputs", []))
        notice = pending.get("notice")
        info = f"**Plan review** — {plan_summary(plan)}\n\n{roles or '_no input files_'}"
        if notice and notice != "changed":
            info += f"\n\n⚠️ {notice}"
        values = {k: plan.get(k) for k in REVIEW_FIELDS}
        values["roles"] = ", ".join(i["role"] for i in plan.get("inputs", []))
        values["frame_anchor"] = values["frame_anchor"] or ""
        values["control"] = values["control"] or ""
        return [gr.update(visible=True), gr.update(value=info)] + [gr.update(value=values[k]) for k in REVIEW_FIELDS]

    def run_turn(self, current: str, updates, planner: str, offload: str, shown: list[Item], asked: list[Item] = ()):
        """Stream one turn into the chat view; ends with the thread's stored view. ``asked``: the person's
        message, shown again with the error when a turn fails before the thread could keep it (a busy thread)."""
        answer = ""
        live = [*shown, Item("assistant", text="…")]
        yield [
            to_messages(live),
            progress_html(Progress()),
            *self.review_updates(None),
            self.thread_choices(current),
            stop_button("running"),
        ]
        result, counted = None, None
        for u in updates:
            u: Update
            if u.kind == "done":
                result = u.result
                break
            if u.kind == "token":
                answer += u.text
                live[-1] = Item("assistant", text=answer)
            if u.progress is not None and u.progress.total:
                counted = (u.progress.label, u.progress.step, u.progress.total, u.progress.elapsed_s)
            stopping = u.progress is not None and u.progress.stopping
            yield [
                to_messages(live),
                progress_html(u.progress),
                *self.review_updates(None),
                gr.update(),
                stop_button("stopping" if stopping else "running"),
            ]
        items = self.chat.view(current, planner=planner, offload=offload)
        unkept = [e for e in (result.errors if result is not None else []) if e["request"] == ""]
        if unkept and not result.results and not result.pending:  # failed before it became a turn of the thread
            items += [*asked, *(Item("assistant", text=f"error: {e['error']}") for e in unkept)]
        done = "waiting for plan review" if result is not None and result.pending else "ready"
        if counted is not None and counted[3] is not None:
            stopped = any(e["error"].startswith("cancelled") for e in (result.errors if result is not None else []))
            done += f" — {'stopped at' if stopped else 'last:'} {counted[0]} {counted[1]}/{counted[2]}"
            done += f" in {_seconds(counted[3])}"
        yield [
            to_messages(items),
            progress_html(text=done),
            *self.review_updates(result.pending if result else None),
            self.thread_choices(current),
            stop_button("idle"),
        ]

    def send(self, message, current, review, planner, offload, steps, guidance, seed, verify):
        message = message or {}
        text = (message.get("text") or "").strip()
        files = [f if isinstance(f, str) else f.get("path") for f in message.get("files") or []]
        keep = [gr.update(), gr.update(), gr.update(), *self.review_updates(None), gr.update(), stop_button("idle")]
        if not text and not files:
            keep[1] = progress_html(text="type a request or attach a file")
            yield [*keep, gr.update(value=""), gr.update()]
            return
        try:
            overrides = generation_overrides(self.defaults, steps=steps, guidance=guidance, seed=seed, verify=verify)
        except SettingsError as exc:  # nothing runs; the message stays in the box, the reason beside the settings
            keep[1] = progress_html(text=f"not sent: {exc} (Settings)")
            yield [*keep, gr.update(value=f"⚠️ {exc}"), gr.update(open=True)]
            return
        asked = [Item("user", text=text or "(files)")]
        asked += [Item("user", path=f, kind=_kind(f)) for f in files if _kind(f)]
        shown = [*self.chat.view(current, planner=planner, offload=offload), *asked]
        updates = self.chat.turn(
            current, text, files, overrides=overrides, confirm=bool(review), planner=planner, offload=offload
        )
        for out in self.run_turn(current, updates, planner, offload, shown, asked):
            yield [out[0], out[1], gr.update(value=None), *out[2:], gr.update(value=""), gr.update()]

    def review_run(self, current, planner, offload, *values):
        pending = self.chat.session(current, planner=planner, offload=offload).pending()
        if not pending:
            yield [
                gr.update(),
                progress_html(text="nothing is waiting for review"),
                *self.review_updates(None),
                gr.update(),
                stop_button("idle"),
            ]
            return
        plan = pending["plan"]
        changes = {}
        for key, value in zip(REVIEW_FIELDS, values, strict=True):
            if value in ("", None):
                value = None
            elif key == "roles":
                value = [r.strip() for r in str(value).split(",") if r.strip()]
                if value != [i["role"] for i in plan.get("inputs", [])]:
                    changes["roles"] = value
                continue
            elif key not in ("task", "frame_anchor", "control"):
                value = int(value)
            if key in ("seed", "steps"):
                if value is not None:
                    changes[key] = value
            elif value != plan.get(key):
                changes[key] = value
        shown = self.chat.view(current, planner=planner, offload=offload)
        updates = self.chat.run_reviewed(current, changes, planner=planner, offload=offload)
        yield from self.run_turn(current, updates, planner, offload, shown)

    def review_cancel(self, current, planner, offload):
        shown = self.chat.view(current, planner=planner, offload=offload)
        updates = self.chat.resume(current, "cancel", planner=planner, offload=offload)
        yield from self.run_turn(current, updates, planner, offload, shown)

    def open_thread(self, name, planner, offload):
        name = (name or "").strip() or new_thread_name()
        session = self.chat.session(name, planner=planner, offload=offload)
        return [
            name,
            to_messages(self.chat.view(name, planner=planner, offload=offload)),
            progress_html(),
            *self.review_updates(session.pending()),
            self.thread_choices(name),
        ]

    def new_thread(self, planner, offload):
        return self.open_thread(new_thread_name(), planner, offload)

    def undo(self, current, planner, offload):
        undone = self.chat.session(current, planner=planner, offload=offload).undo()
        status = "forgot the last turn" if undone else "nothing to undo"
        return [to_messages(self.chat.view(current, planner=planner, offload=offload)), progress_html(text=status)]

    def stop(self, current):
        waiting = self.chat.stop(current)
        if waiting is None:
            return [progress_html(text="nothing is running"), stop_button("idle")]
        running = self.chat.progress(current)
        return [progress_html(running) if running else progress_html(text=waiting), stop_button("stopping")]

    def on_load(self, planner, offload):
        return self.open_thread(self.opening_thread(), planner, offload)


def build_app(chat: WebChat, *, thread: str | None = None) -> gr.Blocks:
    """The Blocks app over ``chat`` (a :class:`WebChat`); ``thread`` is the thread a new page opens on: the layout,
    and each event wired to its :class:`Handlers` method."""
    h = Handlers(chat, thread=thread)
    settings, defaults = chat.settings, h.defaults
    task_names = [t.value for t in Task]

    # -- layout ----------------------------------------------------------------------------------------------
    with gr.Blocks(title="unison") as app:
        current = gr.State(lambda: h.opening_thread())  # a function: a fresh thread per page
        if settings.demo:
            gr.Markdown(DEMO_BANNER, elem_id="demo-banner")
        with gr.Row():
            with gr.Column(scale=1, min_width=220):
                gr.Markdown("### Threads")
                threads = gr.Dropdown(
                    choices=chat.threads(), label="thread", allow_custom_value=True, elem_id="threads"
                )
                open_btn = gr.Button("Open", size="sm")
                new_btn = gr.Button("New thread", size="sm", elem_id="new-thread")
                undo_btn = gr.Button("Undo last turn", size="sm", elem_id="undo")
                with gr.Accordion("Settings", open=False, elem_id="settings") as settings_box:
                    planner = gr.Dropdown(PLANNERS, value=settings.planner, label="planner backend")
                    offload = gr.Dropdown(OFFLOAD, value=settings.offload, label="offload")
                    gr.Markdown("Blank fields use the default.")
                    steps = gr.Textbox(
                        value="", label="steps", placeholder=f"default {defaults.steps}", elem_id="set-steps"
                    )
                    guidance = gr.Textbox(
                        value="", label="guidance", placeholder=f"default {defaults.guidance}", elem_id="set-guidance"
                    )
                    seed = gr.Textbox(value="", label="seed", placeholder="blank: random", elem_id="set-seed")
                    verify = gr.Textbox(
                        value="",
                        label="check outputs: attempts (0 = off)",
                        placeholder=f"default {defaults.verify_attempts}",
                        elem_id="set-verify",
                    )
                    settings_note = gr.Markdown("", elem_id="settings-note")
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(label="unison", height=620, elem_id="chat")
                status = gr.HTML(progress_html(), elem_id="status")
                with gr.Group(visible=False, elem_id="review") as review_box:
                    review_info = gr.Markdown()
                    with gr.Row():
                        f_task = gr.Dropdown(task_names, label="task")
                        f_width = gr.Number(label="width", precision=0)
                        f_height = gr.Number(label="height", precision=0)
                        f_frames = gr.Number(label="frames (4k+1)", precision=0)
                        f_fps = gr.Number(label="fps", precision=0)
                    with gr.Row():
                        f_seed = gr.Number(label="seed", precision=0)
                        f_steps = gr.Number(label="steps", precision=0)
                        f_anchor = gr.Dropdown(["", "first", "last"], label="frame anchor")
                        f_control = gr.Dropdown(["", *CONTROL_KINDS], label="control")
                        f_roles = gr.Textbox(label="roles of the files, in order (e.g. source, mask)")
                    with gr.Row():
                        run_btn = gr.Button("Run", variant="primary", elem_id="review-run")
                        cancel_btn = gr.Button("Cancel", elem_id="review-cancel")
                with gr.Row():
                    box = gr.MultimodalTextbox(
                        placeholder="Ask, create or edit — drop images or videos here; refer back with 'it' or #3",
                        file_types=["image", "video"],
                        file_count="multiple",
                        show_label=False,
                        scale=8,
                        elem_id="prompt",
                    )
                    stop_btn = gr.Button("Stop", variant="secondary", interactive=False, scale=1, elem_id="stop")
                review = gr.Checkbox(label="review plans before generating", value=bool(settings.confirm))

        fields = [f_task, f_width, f_height, f_frames, f_fps, f_seed, f_steps, f_anchor, f_control, f_roles]
        review_out = [review_box, review_info, *fields]
        idle = dict(
            fn=lambda: stop_button("idle"), inputs=None, outputs=[stop_btn], queue=False, api_visibility="private"
        )  # Stop goes back to idle however a turn ended
        turn_out = [chatbot, status, *review_out, threads, stop_btn]
        box.submit(
            h.send,
            [box, current, review, planner, offload, steps, guidance, seed, verify],
            [chatbot, status, box, *review_out, threads, stop_btn, settings_note, settings_box],
            api_name="send",
        ).then(**idle)
        run_btn.click(h.review_run, [current, planner, offload, *fields], turn_out, api_name="review_run").then(**idle)
        cancel_btn.click(h.review_cancel, [current, planner, offload], turn_out, api_name="review_cancel").then(**idle)
        open_out = [current, chatbot, status, *review_out, threads]
        open_btn.click(h.open_thread, [threads, planner, offload], open_out, api_name="open_thread")
        new_btn.click(h.new_thread, [planner, offload], open_out, api_name="new_thread")
        undo_btn.click(h.undo, [current, planner, offload], [chatbot, status], api_name="undo")
        stop_btn.click(h.stop, [current], [status, stop_btn], api_name="stop", queue=False)
        app.load(h.on_load, [planner, offload], open_out, api_name=False)
    return app


def _kind(path: str) -> str | None:
    from unison_agent.web.backend import MEDIA_SUFFIXES

    return MEDIA_SUFFIXES.get(Path(path).suffix.lower())


def launch(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    thread: str | None = None,
    on_ready=None,
) -> None:
    """Build the app, start the server (blocking), and call ``on_ready(url)`` once it listens."""
    chat = WebChat(settings)
    app = build_app(chat, thread=thread)
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(
            server_name=host,
            server_port=port,
            share=share,
            allowed_paths=chat.serve_dirs(),
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            css=CSS,
        )
        if on_ready is not None:
            on_ready(app.share_url or app.local_url)
        app.block_thread()
    finally:
        chat.close()
