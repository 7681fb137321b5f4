"""Two processes on one thread: WAL + busy timeout on the threads database, and a per-thread lock, so their turns
land one after the other (or the second fails "thread busy" when told not to wait); history and media ids stay whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fixtures.agent import scripted_tools
from unison_agent.contract.errors import ThreadBusy
from unison_agent.contract.settings import Settings
from unison_agent.core.session import Session, open_checkpointer, thread_turn

ROOT = Path(__file__).resolve().parents[3]

# `unison run` with the scripted tools, whose understanding takes a while and logs when it runs
RUN_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from tests.fixtures.agent import Recorder, ScriptedTools
    from unison_agent.graphs import toolbox

    class Slow(ScriptedTools):
        def understand(self, plan, settings, *, history=None, on_token=None):
            log, t0 = os.environ["SPAN_LOG"], time.time()
            with open(log, "a") as f:
                f.write(f"start {os.getpid()} {time.time()}\\n")
            time.sleep(float(os.environ.get("SLOW_S", "1.5")))
            hold = os.environ.get("HOLD_UNTIL")  # a file the test creates to let the turn finish
            while hold and not os.path.exists(hold) and time.time() - t0 < 120:
                time.sleep(0.05)
            answer = super().understand(plan, settings, history=history, on_token=on_token)
            with open(log, "a") as f:
                f.write(f"end {os.getpid()} {time.time()}\\n")
            return answer

    toolbox.default_tools = lambda: Slow(Recorder())
    from unison_agent.cli import main
    sys.exit(main(["run"] + sys.argv[1:]))
    """
)


def start_run(home: Path, log: Path, *args: str, **env: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "UNISON_HOME": str(home),
        "UNISON_PLANNER": "rules",
        "SPAN_LOG": str(log),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def spans(log: Path) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for line in log.read_text().splitlines():
        _, pid, t = line.split()
        out.setdefault(int(pid), []).append(float(t))
    return out


def test_threads_database_uses_wal_and_a_busy_timeout(tmp_path):
    saver = open_checkpointer(tmp_path / "threads.sqlite")
    try:
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    finally:
        saver.conn.close()


def test_two_processes_on_one_thread_land_in_order(tmp_path, agent_media):
    home, log = tmp_path / "home", tmp_path / "spans.log"
    fox, clip = agent_media / "fox.png", agent_media / "clip.mp4"
    procs = [
        start_run(home, log, "--thread", "same", "--json", f"describe ###{fox}###"),
        start_run(home, log, "--thread", "same", "--json", f"what happens in ###{clip}###?"),
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert json.loads(out)["thread"] == "same"
    # the two turns did not overlap: one started after the other ended
    (a_start, a_end), (b_start, b_end) = sorted(spans(log).values())
    assert a_end <= b_start
    # both turns are in the thread, numbered 1 and 2, each with its own message pair and media id
    settings = Settings.resolve({"home": str(home), "planner": "rules"}, env={})
    with Session(settings, thread="same", tools=scripted_tools(None)) as s:
        history = s.history()
        assert [h["turn"] for h in history] == [1, 2]
        assert all(not h["errors"] and h["results"] for h in history)
        assert [(m["role"], m["turn"]) for m in s.messages()] == [
            ("user", 1),
            ("assistant", 1),
            ("user", 2),
            ("assistant", 2),
        ]
        media = s.media()
        assert [m["id"] for m in media] == [1, 2] and [m["turn"] for m in media] == [1, 2]
        assert sorted(Path(m["path"]).name for m in media) == ["clip.mp4", "fox.png"]
        # the second turn saw the first one (the answer mentions the earlier messages)
        assert "with 2 earlier message(s)" in history[1]["results"][0]["answer"]


def test_second_process_fails_thread_busy_when_told_not_to_wait(tmp_path, agent_media):
    home, log = tmp_path / "home", tmp_path / "spans.log"
    fox = agent_media / "fox.png"
    release = tmp_path / "release"
    first = start_run(home, log, "--thread", "same", f"describe ###{fox}###", SLOW_S="0", HOLD_UNTIL=str(release))
    deadline = time.time() + 120
    while not (log.exists() and "start" in log.read_text()):  # the first turn is running
        assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.poll() else "timeout"
        time.sleep(0.05)
    second = start_run(home, log, "--thread", "same", f"describe ###{fox}###", UNISON_THREAD_WAIT="0")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2
    assert "thread busy" in err and "UNISON_THREAD_WAIT" in err and "Traceback" not in err
    other = start_run(home, log, "--thread", "other", f"describe ###{fox}###", UNISON_THREAD_WAIT="0", SLOW_S="0")
    assert other.communicate(timeout=120) and other.returncode == 0  # another thread is not blocked
    release.touch()
    assert first.communicate(timeout=120) and first.returncode == 0
    settings = Settings.resolve({"home": str(home), "planner": "rules"}, env={})
    with Session(settings, thread="same", tools=scripted_tools(None)) as s:
        assert [h["turn"] for h in s.history()] == [1]


def test_a_session_waits_for_the_lock_then_fails_clearly(tmp_path):
    settings = Settings.resolve({"home": str(tmp_path), "thread_wait": 0.2}, env={})
    with thread_turn(settings, "t"):
        started = time.perf_counter()
        with pytest.raises(ThreadBusy, match="thread busy: .*'t'.*waited 0.2 s"):
            with thread_turn(settings, "t"):
                pass
        assert time.perf_counter() - started >= 0.2
        with thread_turn(settings, "u"):  # other threads are free
            pass
    with thread_turn(settings, "t"):  # released
        pass
