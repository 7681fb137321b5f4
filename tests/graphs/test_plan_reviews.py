"""Plan review records: what a reviewer decided is kept in the thread (threads.sqlite) for learning from corrections,
through Session.resume (the CLI's --confirm and the web form's path), and counted by `eval plans --from-threads`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unison_agent.contract.plan import Plan
from unison_agent.core.reviews import PlanReview, read_reviews
from unison_agent.core.session import open_checkpointer


def _eval(settings, *extra: str) -> int:
    from unison_agent.cli import main

    return main(["eval", "plans", "--from-threads", "--home", str(settings.home), *extra])


def test_each_review_records_the_request_first_plan_decision_and_the_plan_that_ran(
    make_session, rec, settings, agent_media, capsys
):
    fox = agent_media / "fox.png"
    s = make_session(thread="r", confirm=True)
    r = s.send(f"animate ###{fox}### for 1 second")
    assert r.pending["plan"]["num_frames"] == 17
    s.resume({"num_frames": 9, "seed": 3})
    s.resume("colour=red")  # refused: nothing changes
    assert s.resume("accept").ok
    s.send("make a picture of a red fox")
    assert s.resume("accept").ok
    s.send("make a picture of a cat")
    s.resume({"seed": 5})  # a sampler value: not the planner's business
    assert s.resume("yes").ok
    s.send("make a picture of a dog")
    s.resume("width=256")
    s.resume("cancel")
    s.send("make a picture of a bird")
    s.resume("width=256")
    s.resume({"width": 832})  # changed back: the plan runs as first shown
    s.resume("accept")
    assert s.undo()  # undo forgets the turn, not what its review taught

    reviews = read_reviews(settings.threads_db)
    assert [(x.thread, x.index) for x in reviews] == [("r", i) for i in range(1, 6)]
    got = [x.review for x in reviews]
    assert all(isinstance(x, PlanReview) and isinstance(x.first, Plan) for x in got)
    assert [(x.decision, x.changed, x.settings_changed) for x in got] == [
        ("changed", ["num_frames"], ["seed"]),
        ("accepted", [], []),
        ("accepted", [], ["seed"]),
        ("cancelled", ["width"], []),
        ("accepted", [], []),
    ]
    animate = got[0]
    assert (animate.turn, animate.step, animate.planner) == (1, 0, "rules")
    assert animate.first.num_frames == 17 and animate.accepted.num_frames == 9
    assert rec.generated[0]["plan"] == animate.accepted  # the recorded plan is the one that ran
    assert animate.text == f"animate ###{fox.resolve()}### for 1 second"
    assert "<IMGPAD>" in animate.prompt and str(fox) not in animate.prompt
    assert animate.media == [{"id": 1, "path": str(fox.resolve()), "kind": "image"}]
    assert got[3].accepted is None and got[3].first.width == 832
    assert s.values()["review"] is None  # no review left open
    assert s.reviews() == got
    assert PlanReview.of(json.loads(json.dumps(animate.to_json()))) == animate  # a record kept as JSON reads back

    assert _eval(settings, "--json") == 0
    figures = json.loads(capsys.readouterr().out)
    counts = [figures[k] for k in ("reviewed", "accepted_unchanged", "changed", "cancelled")]
    assert counts == [5, 3, 1, 1]
    assert figures["share_accepted_unchanged"] == pytest.approx(0.6)
    assert {k: v["changed"] for k, v in figures["fields"].items()} == {"num_frames": 1, "width": 1}
    assert figures["planners"] == {"rules": {"changed": 1, "accepted": 3, "cancelled": 1}}
    assert _eval(settings) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "5 reviewed plan(s)" in printed and "accepted unchanged in 3 (60.0%)" in printed
    assert "num_frames │ 1 (20.0%) │ 80.0%" in printed


def test_the_web_forms_review_is_recorded_the_same_way(tmp_path):
    """The web form's Run applies its edits through Session.resume, then accepts."""
    from tests.fixtures.agent import Recorder, scripted_tools
    from unison_agent.contract.settings import Settings
    from unison_agent.web import WebChat

    settings = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules"}, env={})
    web = WebChat(settings, tools=scripted_tools(Recorder()))
    try:
        list(web.turn("w", "make a picture of a red fox", confirm=True))
        list(web.run_reviewed("w", {"width": 256, "height": 128}))
        list(web.turn("w", "make a picture of a cat", confirm=True))
        list(web.run_reviewed("w", {}))
    finally:
        web.close()
    (changed, kept) = [x.review for x in read_reviews(settings.threads_db, "w")]
    assert (changed.decision, changed.changed, changed.accepted.width) == ("changed", ["width", "height"], 256)
    assert (kept.decision, kept.changed) == ("accepted", [])


def _without_reviews(settings, thread: str) -> None:
    """The thread's latest checkpoint as the code before review records wrote it: no reviews, no open review."""
    saver = open_checkpointer(settings.threads_db)
    try:
        tup = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
        checkpoint = dict(tup.checkpoint)
        checkpoint["channel_values"] = {
            k: v for k, v in checkpoint["channel_values"].items() if k not in ("reviews", "review")
        }
        checkpoint["channel_versions"] = {
            k: v for k, v in checkpoint["channel_versions"].items() if k not in ("reviews", "review")
        }
        parent = tup.parent_config or {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        saver.put(parent, checkpoint, tup.metadata, checkpoint["channel_versions"])
    finally:
        saver.conn.close()


def test_an_older_thread_without_records_reads_resumes_and_records_from_then_on(make_session, settings, capsys):
    s = make_session(thread="old", confirm=True)
    s.send("make a picture of a red fox")
    s.resume("accept")
    s.send("make a picture of a cat")  # waits for its review
    s.close()
    _without_reviews(settings, "old")
    assert read_reviews(settings.threads_db) == []
    assert _eval(settings) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no reviewed plans in" in err and "--confirm" in err

    s = make_session(thread="old", confirm=True)
    assert s.pending()["plan"]["task"] == "text_to_image"
    s.resume({"width": 256})
    assert s.resume("accept").ok
    (review,) = [x.review for x in read_reviews(settings.threads_db)]
    assert (review.decision, review.changed, review.first.width) == ("changed", ["width"], 832)
    assert _eval(settings, "--thread", "nope") == 2
    assert "no thread named 'nope'" in capsys.readouterr().err


def test_eval_from_threads_needs_a_threads_database(tmp_path, capsys):
    from unison_agent.cli import main

    assert main(["eval", "plans", "--from-threads", "--home", str(tmp_path / "empty")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no threads database at" in err and str(Path(tmp_path / "empty" / "threads.sqlite")) in err
    assert main(["eval", "plans", "--thread", "x", "--home", str(tmp_path / "empty")]) == 2
    assert "--from-threads" in capsys.readouterr().err
