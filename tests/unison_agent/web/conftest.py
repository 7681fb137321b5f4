"""A launched demo web app (``python cli.py web --demo``) on a free port, shared by the web tests.

The server runs as its own process, exactly as a person starts it, with an isolated UNISON_HOME and the suite's
tiny demo models (built once into ``tiny_root``). Turns stay tiny: 64x64 images, 5-frame videos, 2 steps.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 240


@dataclass
class WebServer:
    url: str
    home: Path
    proc: subprocess.Popen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def web_server(tmp_path_factory, tiny_root) -> WebServer:
    home = tmp_path_factory.mktemp("web_home")
    env = {
        **os.environ,
        "UNISON_HOME": str(home),
        "UNISON_DEMO_DIR": str(tiny_root),
        "UNISON_MAX_NEW_TOKENS": "8",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "UNISON_WINDOW_FRAMES": "9",  # a 1-second video is made in three windows (5 frames kept): a long video
        "UNISON_WINDOW_OVERLAP": "5",
    }
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "web", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen, deadline = [], time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None and lines.empty():  # it ended without serving: say why, at once
                pytest.fail(f"unison web exited with {proc.returncode} before serving:\n{''.join(seen)}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"unison web did not start within {START_TIMEOUT_S} s:\n{''.join(seen)}")
            continue
        seen.append(line)
        if line.startswith("unison web on "):
            url = line.split()[3]
            break
    assert url == f"http://127.0.0.1:{port}/" and "demo models" in line
    yield WebServer(url=url, home=home, proc=proc)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def fox_png(tmp_path_factory) -> Path:
    from tests.conftest import natural_clip
    from unison_agent.media.files import write_image

    img = natural_clip(1, 64, 64, seed=3)[0]
    img[16:48, 16:48] = (200, 60, 30)
    return write_image(tmp_path_factory.mktemp("web_media") / "fox.png", np.ascontiguousarray(img))
