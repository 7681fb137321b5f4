"""Chat in a real terminal (a pseudo-terminal, stdlib ``pty``) on the demo models: the live display names each stage
(loading which model, denoising with its step bar, decoding, writing; the window of a long video) and no library tqdm
bar reaches the screen."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TQDM = re.compile(r"\d+%\||it/s\]|s/it\]")
PROMPT = b"you>"


def _env(home: Path, demo_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "UNISON_HOME": str(home),
        "UNISON_DEMO_DIR": str(demo_dir),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "110",
        "LINES": "30",
        "TERM": "xterm-256color",
    }


class Terminal:
    """A child process on a pseudo-terminal; everything it draws is kept in ``screen``."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True)
        os.close(slave)
        self.raw = b""

    def read_until(self, count: int, timeout: float) -> None:
        """Read until ``PROMPT`` was drawn ``count`` times (or the child ends, or ``timeout`` seconds pass)."""
        end = time.monotonic() + timeout
        while self.raw.count(PROMPT) < count and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            self.raw += chunk

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self.master)

    @property
    def lines(self) -> list[str]:
        """Every line the terminal showed, in order (each redraw of the live line is one line here)."""
        text = ANSI.sub("", self.raw.decode(errors="replace"))
        return [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]


def _first(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


def test_chat_shows_each_stage_and_no_tqdm_bar(tmp_path, tiny_root):
    argv = [
        sys.executable,
        "cli.py",
        "chat",
        "--demo",
        "--width",
        "64",
        "--height",
        "64",
        "--window-frames",
        "9",
        "--window-overlap",
        "5",
        "--steps",
        "4",
    ]
    term = Terminal(argv, _env(tmp_path / "home", tiny_root))
    try:
        term.read_until(1, timeout=300)
        assert PROMPT in term.raw, term.lines[-5:]
        term.type("make a 1-second video of a cat")
        term.read_until(2, timeout=300)
        term.type("/quit")
        term.proc.wait(timeout=60)
    finally:
        term.close()
    lines = term.lines
    assert any("text_to_video video #1" in line for line in lines), lines[-10:]
    load, denoise = _first(lines, "loading Wan2.1-VACE"), _first(lines, "denoising")
    decode, write = _first(lines, "decoding with the VAE"), _first(lines, "writing outputs")
    assert _first(lines, "planning") < load < denoise < decode < write
    assert not any("loading" in line for line in lines[denoise:])
    bar = [line for line in lines if line.startswith(("window", "denoising", *"⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")) and "/4" in line]
    assert any("4/4" in line and "elapsed" in line and "left" in line for line in bar), bar
    for i in (1, 2, 3):  # 17 frames in windows of 9 (5 kept): each window's steps, under its name
        assert any(f"window {i}/3 · denoising" in line and "4/4" in line for line in lines), (i, lines[-20:])
    assert not any(TQDM.search(line) for line in lines), [line for line in lines if TQDM.search(line)]
    assert not any("0/?" in line or "loading the generation models" in line for line in lines)


def test_run_writes_no_tqdm_bar(tmp_path, tiny_root):
    """Piped (no terminal): no live display at all, and no library bar on stderr either."""
    done = subprocess.run(
        [sys.executable, "cli.py", "run", "--demo", "--width", "64", "--height", "64", "make a picture of a red fox"],
        env=_env(tmp_path / "home", tiny_root),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "text_to_image image #1" in done.stdout
    assert not TQDM.search(done.stderr) and not TQDM.search(done.stdout), done.stderr
