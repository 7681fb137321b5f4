"""The agent commands: run, chain, chat (through a pipe), download, doctor — with scripted tools (no models)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.agent import scripted_tools
from unison_agent.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli_env(monkeypatch, agent_home, rec):
    """UNISON_HOME in a temp dir, rules planner, and the graph's tools replaced by the scripted ones."""
    from unison_agent.graphs import toolbox

    monkeypatch.setenv("UNISON_HOME", str(agent_home))
    monkeypatch.setenv("UNISON_PLANNER", "rules")
    monkeypatch.setattr(toolbox, "default_tools", lambda: scripted_tools(rec))
    return agent_home


def test_run_json(cli_env, capsys, rec):
    rc = main(
        ["run", "--json", "--seed", "5", "--steps", "2", "make a picture of a red fox, then turn it into a video"]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert {"task", "answer", "outputs", "plan"} <= set(out) and "demo" not in out
    assert out["task"] == "image_to_video" and len(out["outputs"]) == 2
    assert out["plan"]["inputs"][0]["path"] == out["outputs"][0]
    assert [g["seed"] for g in rec.generated] == [5, 5] and rec.generated[0]["steps"] == 2
    assert Path(out["outputs"][0]).parent.parent == cli_env / "outputs"


def test_run_human_output_and_failure_exit_code(cli_env, capsys, rec):
    rec.fail_on.add("text_to_video")
    rc = main(["run", "--thread", "x", "make a video of a cat"])
    out = capsys.readouterr().out
    assert rc == 1 and "scripted failure in text_to_video" in out
    rc = main(["run", "--thread", "x", "what is a cat?"])
    assert rc == 0 and "answer about 0 file(s) with 2 earlier message(s)" in capsys.readouterr().out


def test_run_size_overrides_are_validated(cli_env, capsys):
    rc = main(["run", "--json", "--width", "100", "make a picture of a red fox"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and "width: 100 is not allowed" in out["errors"][0]["error"]


def test_chain_yaml_summary_and_overrides(cli_env, capsys, rec, tmp_path):
    chain = tmp_path / "c.yaml"
    chain.write_text(
        textwrap.dedent("""
        thread: story
        defaults: {seed: 3}
        turns:
          - make a picture of a red fox
          - request: turn it into a 2-second video
            seed: 9
            steps: 1
          - what is in the first image?
    """)
    )
    rc = main(["chain", str(chain)])
    out = capsys.readouterr().out
    assert rc == 0 and "story" in out and "text_to_image" in out and "image_to_video" in out
    assert [g["seed"] for g in rec.generated] == [3, 9] and rec.generated[1]["steps"] == 1
    assert rec.generated[1]["plan"].num_frames == 33
    assert rec.understood[0]["plan"].inputs[0].path == str(rec.generated[0]["out_dir"].glob("*.png").__next__())


def test_chain_json_failure_stops_and_exits_nonzero(cli_env, capsys, rec, tmp_path):
    rec.fail_on.add("image_to_video")
    chain = tmp_path / "c.json"
    chain.write_text(json.dumps(["make a picture of a fox", "animate it", {"request": "what is it?"}]))
    rc = main(["chain", "--json", str(chain)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["ok"] is False
    assert [t["status"] for t in out["turns"]] == ["ok", "failed", "skipped"]
    rc = main(["chain", "--json", "--keep-going", "--thread", "k", str(chain)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and [t["status"] for t in out["turns"]] == ["ok", "failed", "ok"]


def test_chain_file_errors(cli_env, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- request: hi\n  colour: red\n")
    assert main(["chain", str(bad)]) == 2
    assert "unknown key(s) colour" in capsys.readouterr().err
    assert main(["chain", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "e.yaml").write_text("{}")
    assert main(["chain", str(tmp_path / "e.yaml")]) == 2
    assert "non-empty list of turns" in capsys.readouterr().err


def test_example_chain_files_load():
    from unison_agent.cli.chain_cmd import load_chain

    thread, turns = load_chain(ROOT / "examples" / "chain.yaml")
    assert thread == "fox-story" and len(turns) == 4 and turns[1]["overrides"] == {"seed": 7, "steps": 4}
    _, turns = load_chain(ROOT / "examples" / "chain.json")
    assert turns[1]["overrides"]["width"] == 256


CHAT_SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.fixtures.agent import Recorder, scripted_tools
    from unison_agent.graphs import toolbox
    toolbox.default_tools = lambda: scripted_tools(Recorder())
    from unison_agent.cli import main
    sys.exit(main(["chat"] + sys.argv[1:]))
    """
)


def chat(home: Path, stdin: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UNISON_HOME": str(home), "UNISON_PLANNER": "rules"}
    return subprocess.run(
        [sys.executable, "-c", CHAT_SCRIPT, *args],
        input=stdin,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_chat_through_a_pipe(tmp_path, agent_media):
    home = tmp_path / "home"
    script = (
        "\n".join(
            [
                "/help",
                f"describe ###{agent_media / 'fox.png'}###",
                "make a picture of a red fox, then turn it into a video",
                "/media",
                "/history",
                "/plan",
                "/undo",
                "/media",
                "/quit",
                "this line is never read",
            ]
        )
        + "\n"
    )
    proc = chat(home, script, "--thread", "piped")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "/undo" in out and "answer about 1 file(s)" in out
    assert out.count("#3 video") == 1  # listed by the first /media, gone after /undo
    assert "image_to_video" in out and "forgot the last turn" in out
    assert "this line is never read" not in out
    # the thread persisted: a second process continues it
    proc = chat(home, "what is in #1?\n/history\n", "--thread", "piped")
    assert proc.returncode == 0, proc.stderr
    assert "answer about 1 file(s) with 2 earlier message(s)" in proc.stdout


def test_chat_confirm_through_a_pipe(tmp_path):
    proc = chat(
        tmp_path / "home",
        "make a picture of a red fox\nwidth=256\n\nmake a video of a cat\ncancel\n/media\n",
        "--confirm",
    )
    assert proc.returncode == 0, proc.stderr
    assert "256" in proc.stdout and "cancelled" in proc.stdout
    assert "#1 image" in proc.stdout and "#2" not in proc.stdout


def test_download_with_patched_hub(cli_env, capsys, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, local_dir, **kw):
        calls.append((repo_id, local_dir))
        Path(local_dir, "config.json").write_text("{}")
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert main(["download"]) == 0
    ids = [c[0] for c in calls]
    assert "Qwen/Qwen2.5-VL-3B-Instruct" in ids and "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in ids and len(ids) == 8
    assert calls[0][1] == str(cli_env / "models" / "Qwen/Qwen2.5-VL-3B-Instruct")
    capsys.readouterr()
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["weights"]["vace"]["present"] and report["weights"]["qwen"]["present"]


def test_download_offline_is_a_clear_error(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["download", "--only", "vace"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "could not download Wan-AI/Wan2.1-VACE-1.3B-diffusers" in err and "not reachable" in err
    assert main(["download", "--list"]) == 0
    assert "sam2_model" in capsys.readouterr().out


def test_doctor_reports_missing_weights(cli_env, capsys):
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["python"] and report["torch"] and "available" in report["cuda"]
    assert report["weights"]["vace"]["present"] is False
    assert report["plan"]["planner"].startswith("rules") and "missing" in report["plan"]["generation"]
    assert main(["doctor"]) == 0
    assert "unison download" in capsys.readouterr().out


def test_missing_weights_message_without_demo(monkeypatch, agent_home, capsys):
    monkeypatch.setenv("UNISON_HOME", str(agent_home))
    assert main(["run", "make a picture of a red fox"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Wan2.1-VACE" in out and "unison download" in out and "--demo" in out


def test_langgraph_json_points_at_a_factory():
    import importlib.util

    config = json.loads((ROOT / "langgraph.json").read_text())
    path, attr = config["graphs"]["unison"].split(":")
    spec = importlib.util.spec_from_file_location("lg_entry", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import asyncio

    graph = asyncio.run(getattr(module, attr)())  # async: the server's event loop must not block on disk
    assert {"prepare", "understand", "annotate", "generate", "confirm"} <= set(graph.get_graph().nodes)


def test_progress_view_on_a_terminal():
    import io

    from rich.console import Console

    from unison_agent.cli.agent_view import ProgressView

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with ProgressView(console) as view:
        view({"event": "node", "node": "prepare"})
        view({"event": "stage", "stage": "loading", "text": "loading Wan2.1-VACE", "model": "Wan2.1-VACE"})
        view({"event": "stage", "stage": "denoising", "text": "denoising"})
        for i in range(1, 4):
            view(
                {
                    "event": "step",
                    "stage": "denoising",
                    "step": i,
                    "total": 3,
                    "elapsed_s": 2.0 * i,
                    "remaining_s": 2.0 * (3 - i),
                    "task": "text_to_image",
                }
            )
        view({"event": "stage", "stage": "decoding", "text": "decoding with the VAE"})
        view({"event": "token", "text": "hello "})
        view({"event": "token", "text": "world"})
    out = buf.getvalue()
    assert view.streamed and out.rstrip().endswith("hello world")
    for shown in ("loading Wan2.1-VACE", "3/3", "decoding with the VAE"):
        assert shown in out
    assert re.search(r"0:0[45] elapsed, 0:0[12] left", out)  # the source's times, running on between steps
    assert "prepare" not in out and "0/?" not in out
    quiet = Console(file=io.StringIO(), force_terminal=False)
    with ProgressView(quiet) as view:
        view({"event": "step", "step": 1, "total": 2})
        view({"event": "token", "text": "x"})
    assert quiet.file.getvalue() == "" and not view.streamed


def test_history_given_to_understanding_is_capped(make_session, rec):
    from unison_agent.graphs.nodes import HISTORY_LIMIT

    s = make_session()
    for i in range(HISTORY_LIMIT // 2 + 2):
        s.send(f"question number {i}?")
    assert len(rec.understood[-1]["history"]) == HISTORY_LIMIT


def test_offload_and_vae_tiling_reach_generation_from_run_chain_and_chat(cli_env, capsys, rec, tmp_path, monkeypatch):
    import io

    assert main(["run", "--offload", "model", "--vae-tiling", "make a picture of a red fox"]) == 0
    chain = tmp_path / "c.yaml"
    chain.write_text("- make a picture of a red fox\n")
    assert main(["chain", "--offload", "sequential", str(chain)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("make a picture of a red fox\n/quit\n"))
    assert main(["chat", "--vae-tiling", "--thread", "flags"]) == 0
    assert main(["run", "make a picture of a red fox"]) == 0
    capsys.readouterr()
    assert [(g["offload"], g["vae_tiling"]) for g in rec.generated] == [
        ("model", True),
        ("sequential", False),
        ("none", True),
        ("none", False),
    ]
