"""The batch's own logic without Ray: reading lines, resuming by sidecars, one worker's results (scripted tools)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.agent import Recorder, scripted_tools
from unison_agent.contract.errors import UnisonError
from unison_agent.contract.settings import Settings
from unison_agent.serve.batch import BatchItem, Worker, _collect, done_before, read_items, write_record


def test_lines_become_items_and_bad_lines_fail_alone(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        '{"request": "a fox", "seed": 5, "id": "fox"}\n\nnot json\n{"files": ["x.png"]}\n'
        '{"request": "animate it", "files": ["sub/cat.png"], "overrides": {"num_frames": 5}}\n'
    )
    fox, bad, norequest, cat = read_items(jsonl)
    assert (fox.key, fox.line, fox.seed, fox.error) == ("fox", 1, 5, None)
    assert bad.key == "line-00003" and bad.error.startswith("not valid JSON") and "line 3" not in bad.error
    assert norequest.error and "request" in norequest.error
    assert cat.files == [str(tmp_path / "sub" / "cat.png")] and cat.text().endswith(f"###{tmp_path}/sub/cat.png###")
    jsonl.write_text('{"request": "a", "id": "x"}\n{"request": "b", "id": "x"}\n')
    with pytest.raises(UnisonError, match="duplicate ids"):
        read_items(jsonl)
    with pytest.raises(UnisonError, match="no such file"):
        read_items(tmp_path / "missing.jsonl")


def test_only_a_succeeded_sidecar_for_the_same_request_counts_as_done(tmp_path):
    item = BatchItem(1, "k", "a fox")
    assert done_before(tmp_path, item) is None
    write_record(tmp_path, {"id": "k", "line": 1, "request": "a fox", "ok": False})
    assert done_before(tmp_path, item) is None
    write_record(tmp_path, {"id": "k", "line": 1, "request": "a fox", "ok": True})
    assert done_before(tmp_path, item)["ok"] is True
    assert done_before(tmp_path, BatchItem(1, "k", "a changed request")) is None


def test_a_worker_records_results_errors_and_bugs_and_keeps_going(tmp_path):
    rec = Recorder(bug_on={"text_to_video"})
    settings = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "steps": 2}, env={})
    worker = Worker(settings, str(tmp_path / "out"), 0, tools=scripted_tools(rec))
    ok = worker.run(BatchItem(1, "a", "make a picture of a fox", overrides={"width": 64, "height": 64}, seed=9))
    bug = worker.run(BatchItem(2, "b", "make a 1-second video of a cat", overrides={"width": 64, "height": 64}))
    missing = worker.run(BatchItem(3, "c", "describe this", files=[str(tmp_path / "nope.png")]))
    assert ok["ok"] and ok["task"] == "text_to_image" and ok["seeds"] == [9] and rec.generated[0]["seed"] == 9
    assert ok["outputs"][0].startswith(str(tmp_path / "out" / "outputs" / "a"))  # each line on its own thread
    assert not bug["ok"] and "ZeroDivisionError" in bug["errors"][0]["error"]
    assert not missing["ok"] and "nope.png" in missing["errors"][0]["error"]
    items = [BatchItem(1, "a", ""), BatchItem(2, "b", ""), BatchItem(3, "c", ""), BatchItem(4, "d", "")]
    summary = _collect(items, tmp_path / "out", skipped=0, seconds=1.0)
    lines = [json.loads(x) for x in summary.results.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c", "d"] and lines[3]["errors"] == [{"error": "not run"}]
    assert (summary.done, summary.failed) == (1, 3)
    worker.session.close()


def test_a_bug_outside_the_graph_is_logged_with_its_traceback(tmp_path, monkeypatch):
    settings = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "steps": 2}, env={})
    worker = Worker(settings, str(tmp_path / "out"), 0, tools=scripted_tools(Recorder()))

    def broken(*_args, **_kwargs):
        raise KeyError("session exploded")

    monkeypatch.setattr(worker.session, "send", broken)
    record = worker.run(BatchItem(1, "a", "make a picture of a fox"))
    (error,) = record["errors"]
    assert not record["ok"] and error["internal"] and error["error"].startswith("internal error: KeyError")
    log = Path(error["error"].split("logged to ", 1)[1].rstrip(")"))
    assert "Traceback" in log.read_text() and "session exploded" in log.read_text()
    worker.session.close()
