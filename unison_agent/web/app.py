"""The Gradio app: chat with uploads, streamed answers, progress, Stop, threads, plan review, settings.

Every handler is a thin translation between Gradio values and :class:`~unison_agent.web.backend.WebChat`; the
named API endpoints (``/send``, ``/open_thread``, ``/new_thread``, ``/undo``, ``/review_run``, ``/review_cancel``,
``/stop``) are what the browser and ``gradio_client`` call.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from ..plan import CONTROL_KINDS, Task
from ..settings import Settings
from .backend import Item, Update, WebChat, new_thread_name, plan_summary

DEMO_BANNER = "**Demo mode** — tiny random-weight models: outputs are noise (2 steps, small sizes)."
PLANNERS = ["auto", "unison", "qwen", "rules"]
OFFLOAD = ["none", "model", "sequential"]
REVIEW_FIELDS = ("task", "width", "height", "num_frames", "fps", "seed", "steps", "frame_anchor", "control", "roles")
CSS = "#chat video, #chat img { max-height: 240px !important; width: auto !important; }"


def to_messages(items: list[Item]) -> list[dict[str, Any]]:
    """Chat items as Gradio messages: text as Markdown, media as a file message whose alt text is its id."""
    messages = []
    for item in items:
        if item.path is None:
            messages.append({"role": item.role, "content": item.text})
            continue
        messages.append({"role": item.role, "content": [item.label, {"path": item.path, "alt_text": item.label}]})
    return messages


def progress_html(step: int = 0, total: int = 0, text: str = "") -> str:
    """The status line and, while denoising, a progress bar (``<progress>``)."""
    if not text and not total:
        return "<div class='unison-status'>ready</div>"
    bar = f"<progress class='unison-steps' value='{step}' max='{total}'></progress> {step}/{total}" if total else ""
    return f"<div class='unison-status'>{html.escape(text)} {bar}</div>"


def build_app(chat: WebChat, *, thread: str | None = None) -> gr.Blocks:
    """The Blocks app over ``chat`` (a :class:`WebChat`); ``thread`` is the thread a new page opens on."""
    settings = chat.settings
    task_names = [t.value for t in Task]

    def opening_thread() -> str:
        return thread or new_thread_name()

    # -- handlers --------------------------------------------------------------------------------------------
    def thread_choices(current: str):
        names = chat.threads()
        if current not in names:
            names = [current, *names]
        return gr.update(choices=names, value=current)

    def review_updates(pending: dict[str, Any] | None):
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

    def run_turn(current: str, updates, planner: str, offload: str, shown: list[Item]):
        """Stream one turn into the chat view; ends with the thread's stored view."""
        answer = ""
        status = progress_html(text="planning")
        live = [*shown, Item("assistant", text="…")]
        yield [to_messages(live), status, *review_updates(None), thread_choices(current)]
        result = None
        for u in updates:
            u: Update
            if u.kind == "token":
                answer += u.text
                live[-1] = Item("assistant", text=answer)
            elif u.kind == "step":
                status = progress_html(u.step, u.total, u.text)
            elif u.kind == "status":
                status = progress_html(text=u.text)
            else:
                result = u.result
                break
            yield [to_messages(live), status, *review_updates(None), gr.update()]
        items = chat.view(current, planner=planner, offload=offload)
        if result is not None and not result.results and result.errors and not result.pending:
            items += [Item("assistant", text=f"error: {e['error']}") for e in result.errors if e["request"] == ""]
        done = "waiting for plan review" if result is not None and result.pending else "ready"
        yield [to_messages(items), progress_html(text=done), *review_updates(result.pending if result else None),
               thread_choices(current)]  # fmt: skip

    def send(message, current, review, planner, offload, steps, guidance, seed, verify):
        message = message or {}
        text = (message.get("text") or "").strip()
        files = [f if isinstance(f, str) else f.get("path") for f in message.get("files") or []]
        if not text and not files:
            yield [gr.update(), progress_html(text="type a request or attach a file"), gr.update(),
                   *review_updates(None), gr.update()]  # fmt: skip
            return
        overrides = {k: v for k, v in (("steps", steps), ("guidance", guidance), ("seed", seed)) if v not in (None, "")}
        overrides = {k: (float(v) if k == "guidance" else int(v)) for k, v in overrides.items()}
        if verify not in (None, ""):
            overrides["verify_attempts"] = int(verify)
        shown = chat.view(current, planner=planner, offload=offload)
        shown.append(Item("user", text=text or "(files)"))
        shown += [Item("user", path=f, kind=_kind(f)) for f in files if _kind(f)]
        updates = chat.turn(current, text, files, overrides=overrides, confirm=bool(review),
                            planner=planner, offload=offload)  # fmt: skip
        for out in run_turn(current, updates, planner, offload, shown):
            yield [out[0], out[1], gr.update(value=None), *out[2:]]

    def review_run(current, planner, offload, *values):
        pending = chat.session(current, planner=planner, offload=offload).pending()
        if not pending:
            yield [gr.update(), progress_html(text="nothing is waiting for review"), *review_updates(None), gr.update()]
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
        shown = chat.view(current, planner=planner, offload=offload)
        updates = chat.run_reviewed(current, changes, planner=planner, offload=offload)
        yield from run_turn(current, updates, planner, offload, shown)

    def review_cancel(current, planner, offload):
        shown = chat.view(current, planner=planner, offload=offload)
        updates = chat.resume(current, "cancel", planner=planner, offload=offload)
        yield from run_turn(current, updates, planner, offload, shown)

    def open_thread(name, planner, offload):
        name = (name or "").strip() or new_thread_name()
        session = chat.session(name, planner=planner, offload=offload)
        return [name, to_messages(chat.view(name, planner=planner, offload=offload)), progress_html(),
                *review_updates(session.pending()), thread_choices(name)]  # fmt: skip

    def new_thread(planner, offload):
        return open_thread(new_thread_name(), planner, offload)

    def undo(current, planner, offload):
        undone = chat.session(current, planner=planner, offload=offload).undo()
        status = "forgot the last turn" if undone else "nothing to undo"
        return [to_messages(chat.view(current, planner=planner, offload=offload)), progress_html(text=status)]

    def stop(current):
        return progress_html(text="stopping…" if chat.stop(current) else "nothing is running")

    def on_load(planner, offload):
        return open_thread(opening_thread(), planner, offload)

    # -- layout ----------------------------------------------------------------------------------------------
    with gr.Blocks(title="unison") as app:
        current = gr.State(opening_thread)
        if settings.demo:
            gr.Markdown(DEMO_BANNER, elem_id="demo-banner")
        with gr.Row():
            with gr.Column(scale=1, min_width=220):
                gr.Markdown("### Threads")
                threads = gr.Dropdown(choices=chat.threads(), label="thread", allow_custom_value=True,
                                      elem_id="threads")  # fmt: skip
                open_btn = gr.Button("Open", size="sm")
                new_btn = gr.Button("New thread", size="sm", elem_id="new-thread")
                undo_btn = gr.Button("Undo last turn", size="sm", elem_id="undo")
                with gr.Accordion("Settings", open=False):
                    planner = gr.Dropdown(PLANNERS, value=settings.planner, label="planner backend")
                    offload = gr.Dropdown(OFFLOAD, value=settings.offload, label="offload")
                    steps = gr.Number(value=None, label=f"steps (default {settings.steps})", precision=0)
                    guidance = gr.Number(value=None, label=f"guidance (default {settings.guidance})")
                    seed = gr.Number(value=None, label="seed (empty: random)", precision=0)
                    verify = gr.Number(value=None, precision=0,
                                       label=f"check outputs: attempts (0 = off; default {settings.verify_attempts})")  # fmt: skip
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
                        file_types=["image", "video"], file_count="multiple", show_label=False, scale=8,
                        elem_id="prompt",
                    )  # fmt: skip
                    stop_btn = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
                review = gr.Checkbox(label="review plans before generating", value=bool(settings.confirm))

        fields = [f_task, f_width, f_height, f_frames, f_fps, f_seed, f_steps, f_anchor, f_control, f_roles]
        review_out = [review_box, review_info, *fields]
        box.submit(send, [box, current, review, planner, offload, steps, guidance, seed, verify],
                   [chatbot, status, box, *review_out, threads], api_name="send")  # fmt: skip
        run_btn.click(review_run, [current, planner, offload, *fields], [chatbot, status, *review_out, threads],
                      api_name="review_run")  # fmt: skip
        cancel_btn.click(review_cancel, [current, planner, offload], [chatbot, status, *review_out, threads],
                         api_name="review_cancel")  # fmt: skip
        open_out = [current, chatbot, status, *review_out, threads]
        open_btn.click(open_thread, [threads, planner, offload], open_out, api_name="open_thread")
        new_btn.click(new_thread, [planner, offload], open_out, api_name="new_thread")
        undo_btn.click(undo, [current, planner, offload], [chatbot, status], api_name="undo")
        stop_btn.click(stop, [current], [status], api_name="stop", queue=False)
        app.load(on_load, [planner, offload], open_out, api_name=False)
    return app


def _kind(path: str) -> str | None:
    from .backend import MEDIA_SUFFIXES

    return MEDIA_SUFFIXES.get(Path(path).suffix.lower())


def launch(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           thread: str | None = None, on_ready=None) -> None:  # fmt: skip
    """Build the app, start the server (blocking), and call ``on_ready(url)`` once it listens."""
    chat = WebChat(settings)
    app = build_app(chat, thread=thread)
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(server_name=host, server_port=port, share=share, allowed_paths=chat.serve_dirs(),
                   prevent_thread_lock=True, quiet=True, show_error=False, css=CSS)  # fmt: skip
        if on_ready is not None:
            on_ready(app.share_url or app.local_url)
        app.block_thread()
    finally:
        chat.close()
