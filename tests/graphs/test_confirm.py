"""Human in the loop: a generation waits for accept / change / cancel (LangGraph interrupt)."""

from __future__ import annotations

import pytest

from unison_agent.contract.errors import UnisonError
from unison_agent.core.prepare import parse_decision


def test_accept(make_session, rec):
    s = make_session(confirm=True)
    r = s.send("make a picture of a red fox")
    assert r.pending and r.pending["plan"]["task"] == "text_to_image" and rec.generated == []
    assert r.task == "text_to_image" and r.outputs == []
    r = s.resume("accept")
    assert r.ok and r.pending is None and len(r.outputs) == 1 and len(rec.generated) == 1


def test_change_then_accept(make_session, rec):
    s = make_session(confirm=True)
    s.send("make a picture of a red fox")
    r = s.resume({"width": 256, "height": 128, "seed": 7})
    assert r.pending and r.pending["plan"]["width"] == 256 and r.pending["notice"] == "changed"
    r = s.resume("num_frames=5")  # not valid for an image: refused, plan unchanged
    assert r.pending and "num_frames" in r.pending["notice"] and r.pending["plan"]["num_frames"] == 1
    r = s.resume("colour=red")
    assert "unknown field" in r.pending["notice"]
    r = s.resume(True)
    assert r.ok and rec.generated[0]["plan"].width == 256 and rec.generated[0]["seed"] == 7


def test_cancel_stops_the_turn(make_session, rec):
    s = make_session(confirm=True)
    s.send("make a picture of a red fox, then turn it into a video")
    r = s.resume("cancel")
    assert r.pending is None and rec.generated == []
    assert r.results[0]["status"] == "cancelled" and r.outputs == []
    assert s.values()["done"] is True
    with pytest.raises(UnisonError, match="nothing is waiting"):
        s.resume("accept")


def test_each_step_of_a_compound_request_is_confirmed(make_session, rec):
    s = make_session(confirm=True)
    r = s.send("make a picture of a red fox, then turn it into a video")
    r = s.resume("yes")
    assert r.pending and r.pending["plan"]["task"] == "image_to_video"
    r = s.resume("yes")
    assert r.ok and [x["task"] for x in r.results] == ["text_to_image", "image_to_video"]


def test_new_request_while_waiting_starts_a_new_turn(make_session, rec):
    s = make_session(confirm=True)
    s.send("make a picture of a red fox")
    r = s.send("what is a fox?", confirm=False)
    assert r.ok and r.task == "text_understanding" and s.pending() is None


def test_parse_decision():
    assert parse_decision("accept") == ("accept", {})
    assert parse_decision("") == ("accept", {})
    assert parse_decision("no") == ("cancel", {})
    assert parse_decision({"action": "cancel"}) == ("cancel", {})
    assert parse_decision({"action": "change", "changes": {"width": 480}}) == ("change", {"width": 480})
    assert parse_decision("width=480, steps=4 frame_anchor=last") == (
        "change",
        {"width": 480, "steps": 4, "frame_anchor": "last"},
    )


def test_a_reviewer_can_change_the_roles_of_the_files(make_session, rec, agent_media):
    """'the second file is the mask, not a reference': roles change in file order, and the maps the step needs
    follow (an edit with a given mask needs no mask annotator)."""
    fox, mask = agent_media / "fox.png", agent_media / "mask.png"
    s = make_session(thread="roles", confirm=True)
    r = s.send(f"edit ###{fox}### with ###{mask}### to make the square blue")
    plan = r.pending["plan"]
    assert plan["task"] == "image_edit"
    r = s.resume("roles=mask,source")  # swapped on purpose, then put right
    assert [i["role"] for i in r.pending["plan"]["inputs"]] == ["mask", "source"]
    r = s.resume({"roles": ["source", "mask"]})
    assert [i["role"] for i in r.pending["plan"]["inputs"]] == ["source", "mask"] and r.pending["notice"] == "changed"
    r = s.resume({"roles": ["source"]})
    assert "one role per file" in r.pending["notice"]
    r = s.resume("accept")
    assert r.ok and [i.role for i in rec.generated[-1]["plan"].inputs] == ["source", "mask"]
    assert parse_decision("roles=source/mask width=64") == ("change", {"roles": ["source", "mask"], "width": 64})


def test_confirm_and_overrides_hold_for_one_run_on_a_served_graph(settings, rec):
    """As the LangGraph server drives the graph: each run sends only what it sets; `confirm: true` and the overrides
    of one run do not stick in the thread's state for the next run."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from tests.fixtures.agent import scripted_tools
    from unison_agent.graphs.graph import build_graph

    graph = build_graph(settings, scripted_tools(rec), InMemorySaver())
    config = {"configurable": {"thread_id": "served"}}
    graph.invoke({"request": "make a picture of a red fox", "confirm": True, "overrides": {"seed": 3}}, config)
    assert graph.get_state(config).next == ("confirm",) and rec.generated == []
    graph.invoke(Command(resume="accept"), config)
    assert [g["seed"] for g in rec.generated] == [3]
    graph.invoke({"request": "make a picture of a blue bird"}, config)  # no confirm, no overrides
    state = graph.get_state(config)
    assert state.next == () and not state.interrupts and len(rec.generated) == 2
    assert rec.generated[1]["seed"] is None and state.values["results"][-1]["task"] == "text_to_image"
