"""`langgraph dev` serving the graph from langgraph.json (demo models through UNISON_DEMO=1), driven over HTTP with
langgraph-sdk: a thread, a streamed run, its state, and a plan review (an interrupt) resumed. One server per module."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unison_agent.media.files import read_image, read_video

pytest.importorskip("langgraph_sdk")
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(server_env, demo_models, tmp_path_factory):
    """`langgraph dev --no-browser` on a free port, from the repository root as a user runs it (its in-memory
    state is flushed to the git-ignored .langgraph_api/ there)."""
    import httpx

    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")
    assert cli, "langgraph-cli[inmem] is not installed (it is in the dev extra)"
    port, logs = free_port(), tmp_path_factory.mktemp("langgraph_dev")
    log = open(logs / "server.log", "w")
    env = {**server_env, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
    proc = subprocess.Popen(
        [
            cli,
            "dev",
            "--config",
            str(ROOT / "langgraph.json"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-browser",
            "--no-reload",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (logs / "server.log").read_text()[-3000:]
            try:
                if httpx.get(url + "/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "langgraph dev did not start:\n" + (logs / "server.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_langgraph_dev_thread_stream_state_and_review(server):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    assert [a["graph_id"] for a in client.assistants.search(graph_id="unison")] == ["unison"]
    thread = client.threads.create()["thread_id"]

    # a turn, streamed: node updates and the sampler's own step events
    events = list(
        client.runs.stream(
            thread, "unison", input={"request": "make a picture of a red fox"}, stream_mode=["updates", "custom"]
        )
    )
    nodes = [n for e in events if e.event == "updates" for n in e.data]
    steps = [e.data for e in events if e.event == "custom" and e.data.get("event") == "step"]
    assert {"intake", "prepare", "generate", "finish"} <= set(nodes)
    assert steps and steps[-1]["step"] == steps[-1]["total"] == 2  # demo: 2 sampler steps
    stages = [e.data["stage"] for e in events if e.event == "custom" and e.data.get("event") == "stage"]
    assert stages[0] == "planning" and stages[-3:] == ["denoising", "decoding", "writing"]  # the progress contract
    assert all(s["stage"] == "denoising" and s["elapsed_s"] >= 0 and s["remaining_s"] is not None for s in steps)
    values = client.threads.get_state(thread)["values"]
    (result,) = values["results"]
    assert result["task"] == "text_to_image" and read_image(result["outputs"][0]).shape == (64, 64, 3)

    # plan review: the run stops at an interrupt holding the plan; a resume with changes then runs it
    list(
        client.runs.stream(
            thread,
            "unison",
            input={"request": "animate it for 1 second", "confirm": True, "overrides": {"num_frames": 5}},
        )
    )
    state = client.threads.get_state(thread)
    (pending,) = [i["value"] for t in state["tasks"] for i in t["interrupts"]]
    assert pending["plan"]["task"] == "image_to_video" and pending["plan"]["num_frames"] == 5
    assert state["next"] == ["confirm"]
    resumed = list(client.runs.stream(thread, "unison", command={"resume": "accept"}, stream_mode="updates"))
    assert any("generate" in e.data for e in resumed if e.event == "updates")
    state = client.threads.get_state(thread)
    assert state["next"] == [] and not state["values"]["errors"]
    (video,) = state["values"]["results"]
    frames, fps = read_video(video["outputs"][0])
    assert video["task"] == "image_to_video" and frames.shape == (5, 64, 64, 3) and fps == 16

    # confirm holds for one run: a later run on the same thread without it runs straight through
    again = list(
        client.runs.stream(thread, "unison", input={"request": "make a picture of a blue bird"}, stream_mode="updates")
    )
    assert any("generate" in e.data for e in again if e.event == "updates")
    state = client.threads.get_state(thread)
    assert state["next"] == [] and not state["tasks"] and state["values"]["results"][-1]["task"] == "text_to_image"
