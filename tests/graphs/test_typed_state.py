"""The plan and the step results travel through the graph as typed values, survive a checkpoint read in a new
process, and a thread written when they were dicts still reads and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from unison_agent.contract.plan import Plan
from unison_agent.core.session import open_checkpointer
from unison_agent.graphs.state import StepResult

REPO = Path(__file__).resolve().parents[2]


def test_results_and_plans_are_typed_through_the_turn(make_session, rec):
    s = make_session(thread="typed")
    r = s.send("make a picture of a red fox, then turn it into a 1-second video")
    assert r.ok, r.errors
    assert all(isinstance(x, StepResult) and isinstance(x.plan, Plan) for x in r.results)
    assert rec.generated[1]["plan"] is not None and isinstance(rec.generated[1]["plan"], Plan)
    steps = r.to_json()["steps"]
    assert json.loads(json.dumps(steps)) == steps  # plain JSON, the plan as the contract
    assert steps[1]["plan"]["task"] == "image_to_video" and steps[1]["outputs"] == r.results[1].outputs
    assert r.results[1]["plan"] == r.results[1].plan.to_json()  # the JSON view reads as the dicts did


def test_checkpoint_round_trip_in_a_new_process(make_session, settings):
    s = make_session(thread="trip")
    assert s.send("make a picture of a red fox").ok
    s.close()
    script = (
        "import json, sys\n"
        "from unison_agent.core.session import Session\n"
        "from unison_agent.contract.settings import Settings\n"
        "from unison_agent.graphs.state import StepResult\n"
        "from unison_agent.contract.plan import Plan\n"
        f"s = Session(Settings.resolve({{'home': {str(settings.home)!r}, 'planner': 'rules'}}, env={{}}), thread='trip')\n"
        "h = s.history()[-1]['results'][0]\n"
        "v = s.values()['results'][0]\n"
        "print(json.dumps([type(h).__name__, type(h.plan).__name__, type(v).__name__, h.to_json()['plan']['task']]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["StepResult", "Plan", "StepResult", "text_to_image"]
    assert "unregistered type" not in done.stderr and "Blocked" not in done.stderr, done.stderr


def _as_dicts(settings, thread: str) -> None:
    """Rewrite the thread's latest checkpoint the way the code before typed values stored it: the plan and every
    result as JSON dicts (pending writes, e.g. a waiting confirmation, stay as they are)."""
    saver = open_checkpointer(settings.threads_db)
    try:
        tup = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
        checkpoint = dict(tup.checkpoint)
        values = dict(checkpoint["channel_values"])
        if isinstance(values.get("plan"), Plan):
            values["plan"] = values["plan"].to_json()
        values["results"] = [r.to_json() for r in values.get("results", [])]
        values["history"] = [{**h, "results": [r.to_json() for r in h["results"]]} for h in values.get("history", [])]
        checkpoint["channel_values"] = values
        parent = tup.parent_config or {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        saver.put(parent, checkpoint, tup.metadata, checkpoint["channel_versions"])
        again = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
        assert not isinstance(again.checkpoint["channel_values"].get("plan"), Plan)
        assert all(isinstance(r, dict) for r in again.checkpoint["channel_values"]["results"])
    finally:
        saver.conn.close()


def test_a_thread_written_with_dicts_reads_and_resumes(make_session, rec, settings):
    s = make_session(thread="old", confirm=True)
    r = s.send("make a picture of a red fox, then turn it into a 1-second video")
    r = s.resume("accept")  # step 1 done; step 2 waits for its review
    assert r.pending and r.pending["plan"]["task"] == "image_to_video"
    s.close()
    _as_dicts(settings, "old")

    s = make_session(thread="old", confirm=True)
    assert s.pending()["plan"]["task"] == "image_to_video"
    r = s.resume({"num_frames": 9})  # a change reads the old plan, validates the new one
    assert r.pending and r.pending["plan"]["num_frames"] == 9
    r = s.resume("accept")
    assert r.ok, r.errors
    assert [x.task for x in r.results] == ["text_to_image", "image_to_video"]
    assert all(isinstance(x, StepResult) and isinstance(x.plan, Plan) for x in r.results)
    assert rec.generated[-1]["plan"].num_frames == 9
    assert Path(rec.generated[-1]["plan"].inputs[0].path) == Path(r.results[0].outputs[0])
    assert s.history()[-1]["results"][0].plan.task.value == "text_to_image"
    assert s.last_plan()["task"] == "image_to_video"


def test_a_finished_thread_written_with_dicts_reads(make_session, rec, settings):
    s = make_session(thread="done")
    assert s.send("make a picture of a red fox").ok
    s.close()
    _as_dicts(settings, "done")
    s = make_session(thread="done")
    (turn,) = s.history()
    assert isinstance(turn["results"][0], StepResult) and turn["results"][0].plan.task.value == "text_to_image"
    r = s.send("turn it into a 1-second video")
    assert r.ok and r.task == "image_to_video", r.errors
    assert Path(rec.generated[-1]["plan"].inputs[0].path) == Path(turn["results"][0].outputs[0])
    assert s.undo() and s.history()[-1]["results"][0].task == "text_to_image"
