"""The web UI's core without a server (scripted tools, no models): Stop, the file boundary, uploads, the chat view,
and errors as messages."""

from __future__ import annotations

import threading

import pytest

from tests.fixtures.agent import Recorder, ScriptedTools, scripted_tools
from unison_agent.settings import Settings
from unison_agent.web import WebChat


@pytest.fixture
def chat(tmp_path):
    rec = Recorder()
    settings = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "steps": 40}, env={})
    web = WebChat(settings, tools=scripted_tools(rec))
    web.rec = rec
    yield web
    web.close()


class PausingTools(ScriptedTools):
    """Scripted tools whose generation pauses after its second denoising step until ``resume`` is set."""

    def __init__(self, rec):
        super().__init__(rec)
        self.resume = threading.Event()

    def generate(self, plan, settings, *, on_step=None, **kw):
        def paced(i, n):
            on_step(i, n)
            if i == 2:
                assert self.resume.wait(30)

        return super().generate(plan, settings, on_step=paced, **kw)


@pytest.fixture
def paused_chat(chat):
    chat.tools = PausingTools(chat.rec)
    return chat


def finish(updates):
    """Drain a turn's updates: (the updates before the end, the TurnResult)."""
    seen = list(updates)
    assert seen[-1].kind == "done"
    return seen[:-1], seen[-1].result


def test_stop_cancels_the_running_turn_and_the_thread_stays_usable(paused_chat):
    chat = paused_chat
    steps, result = [], None
    for u in chat.turn("s", "make a picture of a red fox"):
        if u.kind == "step":
            steps.append(u.step)
            if u.step == 2:  # the generation is paused after this step: Stop, then let it go on
                assert chat.busy("s") and chat.stop("s")
                chat.tools.resume.set()
        if u.kind == "done":
            result = u.result
    assert not result.ok and "cancelled" in result.errors[0]["error"] and not result.errors[0]["internal"]
    assert steps == [1, 2] and not chat.busy("s") and chat.stop("s") is False
    _, again = finish(chat.turn("s", "what is a fox?"))
    assert again.ok and again.task == "text_understanding"
    view = chat.view("s")
    assert [i.text for i in view if i.role == "user"] == ["make a picture of a red fox", "what is a fox?"]
    assert any(i.text.startswith("error: cancelled") for i in view)


def test_a_busy_thread_answers_a_second_request_and_a_closed_page_stops_its_turn(paused_chat):
    chat = paused_chat
    first = chat.turn("b", "make a picture of a red fox")
    u = next(first)
    while not (u.kind == "step" and u.step == 2):  # read up to the pause, leaving the generator open
        u = next(first)
    assert chat.busy("b")
    _, busy = finish(chat.turn("b", "what is a fox?"))
    assert "still working" in busy.errors[0]["error"]
    chat.tools.resume.set()
    first.close()  # the page went away mid-turn: the turn is cancelled and the thread freed
    assert not chat.busy("b")
    assert chat.view("b")[-1].text.startswith("error: cancelled")


def test_uploads_are_copied_per_thread_and_shown_with_ids(chat, media_dir):
    progress, r = finish(chat.turn("u", "describe this", [str(media_dir / "photo.png"), str(media_dir / "photo.png")]))
    assert r.ok and r.task == "image_understanding"
    assert any(u.kind == "token" for u in progress) and any(u.kind == "status" for u in progress)
    up = chat.uploads_dir("u")
    assert sorted(p.name for p in up.iterdir()) == ["photo-1.png", "photo.png"]
    view = chat.view("u")
    media = [(i.role, i.media_id, i.label) for i in view if i.path]
    assert media == [("user", 1, "#1 · image · photo.png"), ("user", 2, "#2 · image · photo-1.png")]
    assert view[0].text == "describe this `photo.png` (#1) `photo-1.png` (#2)"
    assert view[-1].text.endswith("_image_understanding of #1, #2_")


def test_the_boundary_typed_paths_references_and_other_threads(chat, media_dir, tmp_path):
    _, r = finish(chat.turn("g", f"describe ###{media_dir / 'photo.png'}###"))
    assert "not allowed" in r.errors[0]["error"] and chat.rec.understood == []
    _, r = finish(chat.turn("g", "describe ###/etc/passwd###"))
    assert r.errors[0]["error"].startswith("access to /etc/passwd is not allowed")
    # another thread's upload, named by its path, is outside this thread's folders
    finish(chat.turn("other", "describe this", [str(media_dir / "photo.png")]))
    theirs = chat.uploads_dir("other") / "photo.png"
    _, r = finish(chat.turn("g", f"describe ###{theirs}###"))
    assert "not allowed" in r.errors[0]["error"]
    # allowed_dirs opens a folder
    open_chat = WebChat(chat.settings.replace(allowed_dirs=(media_dir,)), tools=chat.tools)
    _, r = finish(open_chat.turn("g2", f"describe ###{media_dir / 'photo.png'}###"))
    assert r.ok and r.task == "image_understanding"
    open_chat.close()


def test_a_bug_is_a_message_with_the_log_not_a_traceback(chat):
    chat.rec.bug_on.add("text_to_image")
    _, r = finish(chat.turn("x", "make a picture of a red fox"))
    (err,) = r.errors
    assert err["error"].startswith("internal error: ZeroDivisionError (logged to ") and "Traceback" not in err["error"]


def test_a_reviewed_plan_runs_with_the_forms_edits(chat):
    _, r = finish(chat.turn("r", "make a picture of a red fox", confirm=True))
    assert r.pending and r.pending["plan"]["width"] == 832
    _, r = finish(chat.run_reviewed("r", {"width": 256, "height": 128, "seed": 5}))
    assert r.ok and r.pending is None
    gen = chat.rec.generated[-1]
    assert (gen["plan"].width, gen["plan"].height, gen["seed"]) == (256, 128, 5)
    _, r = finish(chat.turn("r", "make a picture of a cat", confirm=True))
    _, r = finish(chat.run_reviewed("r", {"num_frames": 33}))  # an image has one frame: refused, still waiting
    assert r.pending and "num_frames" in r.pending["notice"]
    _, r = finish(chat.resume("r", "cancel"))
    assert r.results[-1]["status"] == "cancelled"
