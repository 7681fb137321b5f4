"""Routing: each prepared step goes to the right node (annotate, confirm, generate, verify, understand) and the graph
loops back to prepare until the request is done."""

from __future__ import annotations

from pathlib import Path

from unison_agent.contract.plan import Plan


def test_understanding_routes_to_understand(make_session, rec):
    s = make_session()
    events = []
    r = s.send("what is the capital of France?", on_event=events.append)
    assert r.ok and r.task == "text_understanding"
    assert r.answer.startswith("answer about 0 file(s)")
    assert rec.generated == [] and len(rec.understood) == 1
    nodes = [e["node"] for e in events if e["event"] == "node"]
    assert nodes == ["intake", "prepare", "understand", "finish"]
    assert "".join(e["text"] for e in events if e["event"] == "token").strip() == r.answer


def test_generation_routes_to_generate_with_progress(make_session, rec, settings):
    s = make_session(thread="gen")
    events = []
    r = s.send("make a picture of a red fox", on_event=events.append)
    assert r.ok and r.task == "text_to_image"
    assert len(r.outputs) == 1 and Path(r.outputs[0]).is_file()
    assert Path(r.outputs[0]).parent == settings.outputs_dir / "gen"
    steps = [(e["step"], e["total"]) for e in events if e["event"] == "step"]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert s.media()[0]["id"] == 1 and s.media()[0]["origin"] == "output"


def test_scripted_planner_plan_is_used(make_session, rec, agent_media):
    def plan_fn(request):
        return Plan(
            task="image_to_video",
            prompt=request.prompt,
            width=64,
            height=64,
            num_frames=9,
            fps=16,
            frame_anchor="last",
            inputs=[{"path": request.mentions[0].path, "kind": "image", "role": "frame"}],
        )

    from tests.fixtures.agent import scripted_tools

    s = make_session(tools=scripted_tools(rec, plan_fn))
    r = s.send(f"anything ###{agent_media / 'fox.png'}###")
    assert r.task == "image_to_video" and r.plan["frame_anchor"] == "last"
    assert rec.generated[0]["plan"].num_frames == 9
    assert s.media()[0]["origin"] == "input" and s.media()[1]["origin"] == "output"


def test_annotation_request_routes_to_annotator(make_session, rec, agent_media):
    s = make_session()
    r = s.send(f"show me the depth of ###{agent_media / 'clip.mp4'}###")
    assert r.ok and r.task == "annotate:depth"
    assert rec.annotated[0]["kind"] == "depth" and rec.plans == []
    assert r.outputs[0].endswith(".mp4") and Path(r.outputs[0]).is_file()
    assert "saved as #2" in r.answer


def test_control_from_plain_video_is_prepared_by_annotator(make_session, rec, agent_media):
    s = make_session()
    r = s.send(f"make a video of a robot dancing following the pose of ###{agent_media / 'clip.mp4'}###")
    assert r.ok and r.task == "video_control", r.errors
    assert rec.annotated[0]["kind"] == "pose"
    plan = rec.generated[0]["plan"]
    # the plan stays what was planned (pose control of the clip); the pose map goes to generate as a file
    assert plan.control == "pose" and plan.first("control").path == str(agent_media / "clip.mp4")
    assert rec.generated[0]["files"] == {"control": r.results[0]["prepared"][0]}


def test_failing_step_records_error_and_keeps_earlier_results(make_session, rec):
    rec.fail_on.add("image_to_video")
    s = make_session()
    r = s.send("make a picture of a red fox, then turn it into a 3-second video, then make the snow purple")
    assert not r.ok and len(r.results) == 1 and r.results[0]["task"] == "text_to_image"
    assert r.errors[0]["step"] == 1 and "scripted failure" in r.errors[0]["error"]
    assert len(rec.generated) == 2  # the third step never ran
    assert Path(r.outputs[0]).is_file()


def test_missing_file_is_a_recorded_error(make_session):
    s = make_session()
    r = s.send("describe ###/nonexistent/x.png###")
    assert not r.ok and "no such file" in r.errors[0]["error"]
    assert r.errors[0]["type"] == "MediaError"


def test_planner_crash_is_recorded_and_thread_stays_usable(make_session, rec):
    from tests.fixtures.agent import scripted_tools

    def broken(request):
        raise RuntimeError("planner exploded")

    s = make_session(tools=scripted_tools(rec, broken))
    r = s.send("make a picture of a red fox")
    # a bug, not the person's mistake: a short message naming the log, the traceback in the log
    assert not r.ok and r.errors[0]["type"] == "RuntimeError" and r.errors[0]["internal"]
    message = r.errors[0]["error"]
    assert message.startswith("internal error: RuntimeError (logged to ") and "planner exploded" not in message
    log = Path(message.split("logged to ", 1)[1].rstrip(")"))
    assert log.is_file() and "planner exploded" in log.read_text() and "Traceback" in log.read_text()
    s2 = make_session()  # same thread, working tools
    assert s2.send("make a picture of a red fox").ok
    assert [h["turn"] for h in s2.history()] == [1, 2]


def test_control_input_judged_by_its_pixels_not_its_name(make_session, rec, agent_media, tmp_path):
    """A skeleton video named like a holiday clip is used as given; a photo named my_pose.png is annotated (depth
    when the words name no kind, pose when they do); the verdict is in the result's notes."""
    from tests.conftest import natural_clip, pose_clip
    from unison_agent.media.files import write_image, write_video

    skeleton = write_video(tmp_path / "holiday.mp4", pose_clip(9, 64, 64), fps=16)
    photo = write_image(tmp_path / "my_pose.png", natural_clip(1, 64, 64)[0])
    s = make_session(thread="ctrl")
    r = s.send(f"make a video of a robot dancing following the pose of ###{skeleton}###")
    assert r.ok and r.task == "video_control" and rec.annotated == []
    assert rec.generated[-1]["plan"].control == "ready" and rec.generated[-1]["files"] == {}
    assert any("already is a pose map" in n for n in r.results[0]["notes"])
    r = s.send(f"make a video of a robot dancing following the pose of ###{agent_media / 'clip.mp4'}###")
    assert [a["kind"] for a in rec.annotated] == ["pose"]  # natural video, the words ask for pose
    assert any("natural media" in n for n in r.results[0]["notes"])

    # a model planner that says "the input already is a control signal" (as <CTRL> decodes) about a photo
    from tests.fixtures.agent import scripted_tools
    from unison_agent.contract.plan import InputRef, Plan

    def says_ready(request):
        ref = InputRef(path=request.mentions[0].path, kind="image", role="control")
        return Plan(
            task="image_control",
            prompt=request.prompt,
            inputs=[ref],
            width=832,
            height=480,
            num_frames=1,
            control="ready",
        )

    s2 = make_session(thread="ctrl2", tools=scripted_tools(rec, says_ready))
    r = s2.send(f"a watercolor painting of ###{photo}###")
    assert r.ok and r.task == "image_control", r.errors
    assert [a["kind"] for a in rec.annotated] == ["pose", "depth"]  # natural media, no kind said: depth
    assert rec.generated[-1]["plan"].control == "depth" and set(rec.generated[-1]["files"]) == {"control"}


def test_cancel_stops_the_running_turn_and_the_thread_stays_usable(make_session, rec):
    """Session.cancel() from another thread (a Stop button) ends the generation at its next step."""
    s = make_session(thread="stop")

    def on_event(event):
        if event["event"] == "step" and event["step"] == 1:
            s.cancel()

    r = s.send("make a picture of a red fox, then turn it into a 1-second video", on_event=on_event)
    assert not r.ok and r.errors[0]["type"] == "TurnCancelled" and not r.errors[0]["internal"]
    assert "cancelled" in r.errors[0]["error"] and len(rec.generated) == 1
    assert s.send("make a picture of a blue bird").ok  # the next turn runs normally
