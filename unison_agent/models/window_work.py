"""A long video's finished windows on disk, so that a stopped or killed turn continues where it was.

Each step that is made window by window (:mod:`unison_agent.models.windows`) has a work folder,
``$UNISON_HOME/work/<key>/``, named by what decides its frames: the plan, the prepared inputs (their pixels), the
window sizes, the sampler, the models and the seed (a random seed is not part of the key: the folder records the
one that was drawn, and a retry takes it again). The key does not name a thread, so whatever sends the same request
again continues it: ``/retry`` in chat, ``Session.retry``, or the same ``unison run`` command (a new thread each
time). After each window it holds:

- ``window-NNN.frames.npy``: the uint8 frames that window put into the video (its overlap cross-faded);
- ``window-NNN.tail.npy``: the float frames the next window keeps (only the newest window's are kept);
- ``window-NNN.json``: what the sidecar records about the window, written last: a window counts as finished
  only when its JSON exists, so a kill while writing loses that window alone.

Sending the same request again makes the same plan and inputs, hence the same key: the finished windows are read back and generation continues with the next one. A step whose output was
written deletes its folder (:meth:`WindowWork.finish`); folders nobody came back to are removed after
:data:`STALE_DAYS` days.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.media.files import atomic_path, write_json

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.plan import Plan
    from unison_agent.contract.settings import Settings
    from unison_agent.models.vace_inputs import VaceInputs

WORK_DIR = "work"
MANIFEST = "manifest.json"
STALE_DAYS = 7.0


def work_key(plan: Plan, inputs: VaceInputs, parts: dict[str, Any], seed: int | None, given: int = 0) -> str:
    """What decides a windowed step's frames, as a short hash: the plan (less its notes), the inputs' pixels,
    ``parts`` (window sizes, sampler, models) and the seed when one was asked for (None: a random one)."""
    h = hashlib.blake2b(digest_size=12)
    data = {k: v for k, v in plan.to_json().items() if k not in ("notes", "raw")}
    meta = {"plan": data, "parts": parts, "seed": seed, "given": int(given)}
    meta["size"] = [inputs.width, inputs.height, inputs.num_frames]
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name in ("video", "mask"):
        arr = getattr(inputs, name)
        h.update(name.encode())
        if arr is not None:
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).data)
    for ref in inputs.references:
        h.update(str(np.shape(ref)).encode())
        h.update(np.ascontiguousarray(ref).data)
    return h.hexdigest()


def work_root(settings: Settings) -> Path:
    """Where the work folders live: ``<home>/work``."""
    return Path(settings.home) / WORK_DIR


@dataclass
class FinishedWindow:
    """One window read back: the frames it put into the video, and what was recorded about it."""

    index: int
    frames: np.ndarray
    info: dict[str, Any]


@dataclass
class WindowWork:
    """The work folder of one windowed step (see the module docstring)."""

    folder: Path
    seed: int | None = None
    windows: int = 0
    finished: list[FinishedWindow] = field(default_factory=list)
    tail: np.ndarray | None = None

    @classmethod
    def open(cls, root: Path, key: str, *, prune: bool = True) -> WindowWork:
        """The folder for ``key`` under ``root`` (:func:`work_root`) with whatever finished windows it holds (none
        when new). Other folders older than :data:`STALE_DAYS` are removed on the way."""
        root = Path(root)
        if prune:
            _prune(root, keep=key)
        work = cls(root / key)
        work._read()
        return work

    # -- reading back --------------------------------------------------------------------------------------
    def _read(self) -> None:
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            return
        try:
            data = json.loads(manifest.read_text())
            self.seed, self.windows = int(data["seed"]), int(data["windows"])
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(self.folder, ignore_errors=True)  # unreadable: start again rather than guess
            return
        for i in range(self.windows):
            info_path = self.folder / f"window-{i:03d}.json"
            frames_path = self.folder / f"window-{i:03d}.frames.npy"
            if not info_path.is_file():
                break
            try:
                info = json.loads(info_path.read_text())
                frames = np.load(frames_path, allow_pickle=False)
            except (OSError, ValueError):
                self._forget()  # a finished window that cannot be read: make them all again rather than guess
                return
            self.finished.append(FinishedWindow(i, frames, info))
        if self.finished and self.finished[-1].index + 1 < self.windows:
            try:
                self.tail = np.load(self.folder / f"window-{self.finished[-1].index:03d}.tail.npy", allow_pickle=False)
            except (OSError, ValueError):
                self._forget()

    def _forget(self) -> None:
        self.finished, self.tail = [], None
        for old in self.folder.glob("window-*"):
            old.unlink(missing_ok=True)

    @property
    def done(self) -> int:
        """How many windows are finished."""
        return len(self.finished)

    # -- writing -------------------------------------------------------------------------------------------
    def start(self, seed: int, windows: int) -> None:
        """Record the seed and the number of windows (once: a folder read back keeps what it had)."""
        if (self.folder / MANIFEST).is_file() and self.seed == seed and self.windows == windows:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.seed, self.windows = int(seed), int(windows)
        self._forget()
        write_json(self.folder / MANIFEST, {"seed": self.seed, "windows": self.windows, "created": time.time()})

    def save(self, index: int, frames: np.ndarray, tail: np.ndarray | None, info: dict[str, Any]) -> None:
        """Window ``index`` is finished: its video frames, the frames the next one keeps, then its record."""
        stem = self.folder / f"window-{index:03d}"
        _save_npy(stem.with_name(stem.name + ".frames.npy"), np.asarray(frames, np.uint8))
        if tail is not None:
            _save_npy(stem.with_name(stem.name + ".tail.npy"), np.asarray(tail, np.float32))
        write_json(stem.with_name(stem.name + ".json"), info)
        if index:
            (self.folder / f"window-{index - 1:03d}.tail.npy").unlink(missing_ok=True)

    def finish(self) -> None:
        """The step's output is written: the work folder goes."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)


def _prune(root: Path, *, keep: str) -> None:
    if not root.is_dir():
        return
    cutoff = time.time() - STALE_DAYS * 86400
    for folder in root.iterdir():
        try:
            if folder.name != keep and folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


__all__ = ["STALE_DAYS", "WORK_DIR", "FinishedWindow", "WindowWork", "work_key", "work_root"]
