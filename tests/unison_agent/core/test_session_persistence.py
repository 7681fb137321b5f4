"""Persistence: threads live in SQLite (settings.threads_db); a new process resumes a thread where it stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tests.fixtures.agent import Recorder, scripted_tools
    from unison_agent.core.session import Session
    from unison_agent.contract.settings import Settings

    home, thread, action, arg = sys.argv[1:5]
    rec = Recorder()
    if action == "interrupt":
        rec.interrupt_on.add("image_to_video")
    s = Session(Settings.resolve({"home": home, "planner": "rules", "steps": 2}, env={}), thread=thread,
                tools=scripted_tools(rec))
    if action == "resume":
        r = s.resume(arg)
    else:
        r = s.send(arg, confirm=(action == "confirm"))
    out = r.to_json()
    out["media"] = s.media()
    out["history_turns"] = [h["turn"] for h in s.history()]
    out["generated_frames"] = [g["plan"].first("frame").path if g["plan"].first("frame") else None
                               for g in rec.generated]
    print(json.dumps(out))
    """
)


def run(home: Path, thread: str, action: str, arg: str) -> tuple[int, dict | None, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home), thread, action, arg],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    return proc.returncode, data, proc.stderr


def test_thread_resumes_in_a_new_process(tmp_path):
    home = tmp_path / "home"
    rc, first, err = run(home, "foxes", "send", "make a picture of a red fox")
    assert rc == 0, err
    assert (home / "threads.sqlite").is_file()
    rc, second, err = run(home, "foxes", "send", "turn it into a video")
    assert rc == 0, err
    assert second["generated_frames"] == [first["outputs"][0]]
    assert [m["id"] for m in second["media"]] == [1, 2] and second["history_turns"] == [1, 2]
    rc, other, err = run(home, "birds", "send", "what is a bird?")
    assert rc == 0 and other["media"] == [] and other["history_turns"] == [1]

    from unison_agent.core.session import list_threads

    assert set(list_threads(home / "threads.sqlite")) == {"foxes", "birds"}


def test_pending_confirmation_survives_the_process(tmp_path):
    home = tmp_path / "home"
    rc, first, err = run(home, "t", "confirm", "make a picture of a red fox")
    assert rc == 0, err
    assert first["pending"]["plan"]["task"] == "text_to_image" and first["outputs"] == []
    rc, second, err = run(home, "t", "resume", "accept")
    assert rc == 0, err
    assert second["task"] == "text_to_image" and len(second["outputs"]) == 1


def test_interrupted_generation_does_not_corrupt_the_thread(tmp_path):
    home = tmp_path / "home"
    rc, first, err = run(home, "t", "send", "make a picture of a red fox")
    assert rc == 0, err
    rc, _, err = run(home, "t", "interrupt", "turn it into a video")
    assert rc != 0 and "KeyboardInterrupt" in err
    rc, third, err = run(home, "t", "send", "turn the first image into a video")
    assert rc == 0, err
    assert third["generated_frames"] == [first["outputs"][0]]
    assert [m["origin"] for m in third["media"]] == ["output", "output"]
    assert third["history_turns"] == [1, 2, 3]  # turn 2 is kept as interrupted (/retry runs it); turn 1 is intact
