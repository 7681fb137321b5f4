"""Interrupted turns: Ctrl-C in chat cancels the running turn cleanly; a process killed mid-generation leaves no
partial output, and the next process on the thread shows the interrupted turn and can run it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from unison_agent.contract.settings import Settings
from unison_agent.media.files import list_outputs

SMALL_VIDEO = {"width": 64, "height": 64, "num_frames": 5}


def _settings(home, tiny_root) -> Settings:
    from unison_agent.core.demo import demo_settings

    return demo_settings(
        Settings.resolve({"home": str(home), "demo": True, "demo_dir": str(tiny_root), "steps": 3}, env={})
    )


def test_a_killed_process_leaves_no_partial_output_and_the_turn_can_be_retried(tmp_path, tiny_root):
    from unison_agent.core.session import INTERRUPTED, Session

    home = tmp_path / "home"
    script = textwrap.dedent(f"""
        import os, signal
        from unison_agent.core.demo import demo_settings
        from unison_agent.core.session import Session
        from unison_agent.contract.settings import Settings
        s = Session(demo_settings(Settings.resolve({{"home": {str(home)!r}, "demo": True,
                                                    "demo_dir": {str(tiny_root)!r}, "steps": 3}}, env={{}})), thread="k")
        s.send("make a picture of a lighthouse", overrides={{"width": 64, "height": 64}})
        def on_event(e):
            if e.get("event") == "step" and e["step"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        s.send("make a 1-second video of a cat", overrides={json.dumps(SMALL_VIDEO)}, on_event=on_event)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    out_dir = home / "outputs" / "k"
    made = sorted(p.name for p in out_dir.iterdir())
    assert len(list_outputs(out_dir)) == 1 and len(made) == 2, made  # the picture and its sidecar, nothing else

    s = Session(_settings(home, tiny_root), thread="k")
    try:
        assert s.interrupted() is None, "the next process closed the interrupted turn"
        last = s.history()[-1]
        assert last["request"] == "make a 1-second video of a cat" and last["errors"][0]["error"] == INTERRUPTED
        assert s.messages()[-1]["content"].startswith("error: interrupted")
        r = s.retry(overrides=SMALL_VIDEO)
        assert r.ok and r.task == "text_to_video", r.errors
        assert [h["turn"] for h in s.history()] == [1, 2, 3]
        assert len(list_outputs(out_dir)) == 2
        assert [m["id"] for m in s.media()] == [1, 2]
    finally:
        s.close()


def test_ctrl_c_in_chat_cancels_the_turn_and_the_thread_stays_usable(tmp_path, tiny_root):
    from rich.console import Console

    from unison_agent.cli.chat_cmd import cancel_on_interrupt
    from unison_agent.core.session import Session

    s = Session(_settings(tmp_path / "home", tiny_root), thread="c")
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    try:
        previous = signal.getsignal(signal.SIGINT)

        def press_ctrl_c(e):
            if e.get("event") == "step" and e["step"] == 1:
                signal.raise_signal(signal.SIGINT)

        with cancel_on_interrupt(s, console):
            r = s.send("make a 1-second video of a cat", overrides=SMALL_VIDEO, on_event=press_ctrl_c)
        assert signal.getsignal(signal.SIGINT) is previous, "the handler is only there during a turn"
        assert not r.ok and r.errors[0]["error"].startswith("cancelled")
        assert not list_outputs(tmp_path / "home" / "outputs" / "c")
        assert s.history()[-1]["errors"][0]["error"].startswith("cancelled")
        r = s.retry(overrides=SMALL_VIDEO)
        assert r.ok and r.outputs, r.errors

        def press_twice(e):
            if e.get("event") == "step" and e["step"] == 1:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)

        with pytest.raises(KeyboardInterrupt), cancel_on_interrupt(s, console):
            s.send("make a picture of a dog", overrides={"width": 64, "height": 64}, on_event=press_twice)
        s.recover()  # what chat does after the second Ctrl-C
        assert s.interrupted() is None
        last = s.history()[-1]
        assert last["request"] == "make a picture of a dog"
        # the node finishing in the background either completed the picture or stopped at the cancel
        assert last["results"] or last["errors"][0]["error"].startswith(("cancelled", "interrupted")), last
        assert s.send("what is 2 + 2?").ok
    finally:
        s.close()
        console.file.close()


def test_retry_on_a_new_thread_says_there_is_nothing(tmp_path, tiny_root):
    from unison_agent.contract.errors import UnisonError
    from unison_agent.core.session import Session

    s = Session(_settings(tmp_path / "home", tiny_root), thread="empty")
    try:
        with pytest.raises(UnisonError, match="nothing to retry"):
            s.retry()
    finally:
        s.close()
