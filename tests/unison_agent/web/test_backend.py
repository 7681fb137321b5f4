"""The web UI's core without a server (scripted tools, no models): Stop, the file boundary, uploads, the chat view,
and errors as messages."""

from __future__ import annotations

import threading

import pytest

from tests.fixtures.agent import Recorder, ScriptedTools, scripted_tools
from unison_agent.contract.settings import Settings
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
    assert steps == [1, 2] and not chat.busy("s") and chat.stop("s") is None
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


class ContractTools(PausingTools):
    """Scripted tools that report progress as the real ones do: ``stage`` events from where the work happens, and
    the denoising steps through ``on_step`` (the generate node times them: ``step`` events with stage, elapsed and
    remaining time); pausing after the second denoising step like :class:`PausingTools`."""

    def generate(self, plan, settings, *, on_step=None, **kw):
        from unison_agent.core import progress

        progress.stage("loading", "loading Wan2.1-VACE (transformer, VAE, umT5)")
        progress.stage("denoising", "denoising")
        made = super().generate(plan, settings, on_step=on_step, **kw)
        progress.stage("decoding", "decoding with the VAE")
        progress.stage("writing", "writing outputs")
        return made


def test_progress_contract_events_become_stage_labels_and_a_timed_step_bar(chat):
    chat.tools = ContractTools(chat.rec)
    seen, stop_text = [], None
    for u in chat.turn("p", "make a picture of a red fox", overrides={"steps": 6}):
        if u.kind == "done":
            result = u.result
            break
        p = u.progress
        seen.append((u.kind, p.label, p.step, p.total, p.elapsed_s, p.remaining_s))
        if u.kind == "step" and u.step == 2:  # paused after step 2: Stop says what it waits for
            stop_text = chat.stop("p")
            chat.tools.resume.set()
    labels = list(dict.fromkeys(s[1] for s in seen))
    assert labels[0] == "planning" and labels[-2:] == ["loading Wan2.1-VACE (transformer, VAE, umT5)", "denoising"]
    counted = [s[2:4] for s in seen if s[0] == "step"]  # Stop ends the turn at step 3, before it is reported
    assert counted == [(1, 6), (2, 6)]
    timed = [s[4:] for s in seen if s[0] == "step"]
    assert all(e is not None and r is not None for e, r in timed)  # elapsed and remaining shown with every step
    assert stop_text.startswith("stopping after the current denoising step (step 2/6, about ") and "s)" in stop_text
    assert "cancelled" in result.errors[0]["error"] and chat.stop("p") is None and chat.progress("p") is None
    # run to the end: decoding and writing follow the last step
    chat.tools.resume.set()
    kinds = [(u.kind, u.progress.label) for u in chat.turn("p", "make a picture of a cat") if u.kind != "done"]
    assert kinds[-2:] == [("stage", "decoding with the VAE"), ("stage", "writing outputs")]


def test_older_status_and_step_events_still_show_and_are_timed(chat):
    updates, r = finish(chat.turn("o", "make a picture of a red fox"))  # the scripted tools send no stage events
    assert r.ok
    assert [u.text for u in updates if u.kind == "status"][:1] == ["planning"]
    steps = [(u.progress.label, u.step, u.total) for u in updates if u.kind == "step"]
    assert steps[0] == ("denoising", 1, 40) and steps[-1] == ("denoising", 40, 40)
    last = [u for u in updates if u.kind == "step"][-1].progress
    assert last.elapsed_s is not None and last.remaining_s == 0


def test_a_refused_request_stays_in_the_thread_with_its_error(chat, media_dir):
    finish(chat.turn("k", "describe this", [str(media_dir / "photo.png")]))
    _, r = finish(chat.turn("k", "describe ###/etc/passwd###"))
    assert not r.ok and r.errors[0]["request"] == "describe ###/etc/passwd###"
    _, r = finish(chat.turn("k", "describe this", [str(media_dir / "notes.txt")]))  # an upload it cannot take
    assert "not an image or a video" in r.errors[0]["error"]
    expected = [
        "describe `/etc/passwd`",
        "error: access to /etc/passwd is not allowed",
        "describe this (attached: notes.txt)",
        "error: notes.txt: not an image or a video",
    ]
    reopened = WebChat(chat.settings, tools=chat.tools)  # another server process on the same home
    for web in (chat, reopened):
        texts = [i.text for i in web.view("k") if not i.path]
        assert [t for t in texts[2:] if any(t.startswith(e) for e in expected)] == texts[2:]
        assert [next(t for t in texts if t.startswith(e)) for e in expected]  # each one, in this order
        assert [t[:20] for t in texts[2:]] == [e[:20] for e in expected]
    reopened.close()
    _, again = finish(chat.turn("k", "what is in it?"))  # "it" is still the upload: a refusal registers nothing
    assert again.ok and again.task == "image_understanding"
    assert chat.session("k").undo() and chat.view("k")[-1].text.startswith("error: notes.txt")


def test_maps_a_step_prepared_are_shown_with_their_ids_before_the_output(chat, media_dir):
    _, r = finish(
        chat.turn("m", "make a video of a robot dancing following the pose of this", [str(media_dir / "clip.mp4")])
    )
    assert r.ok and r.task == "video_control" and [a["kind"] for a in chat.rec.annotated] == ["pose"]
    labels = [i.label for i in chat.view("m") if i.path]
    assert labels[0] == "#1 · video · clip.mp4"
    assert labels[1].startswith("#2 · pose · pose-") and labels[2].startswith("#3 · video · video_control-")
    assert len(labels) == 3
