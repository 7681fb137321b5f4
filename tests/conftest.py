"""Test-wide fixtures: an isolated user data directory and one temp root for tiny models (built once).

The tests mirror the code: ``tests/unison_agent/`` (with ``cli/``, ``planners/``, ``tiny/``, ``web/``, ``serve/``),
``tests/graphs/`` and ``tests/tools/``. Fixtures shared across those folders live in ``tests/fixtures/`` (scripted
tools and a session factory, the tiny Qwen kit, the tiny VACE pipeline and plans, the annotator kit) and are
registered here; a folder with fixtures of its own (web, serve, published) keeps its conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.agent", "tests.fixtures.stage1", "tests.fixtures.stage2", "tests.fixtures.annotators"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    """Every test run gets its own UNISON_HOME, so nothing touches the user's real data directory."""
    home = tmp_path_factory.mktemp("unison_home")
    old = os.environ.get("UNISON_HOME")
    os.environ["UNISON_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    yield home
    if old is None:
        os.environ.pop("UNISON_HOME", None)
    else:
        os.environ["UNISON_HOME"] = old


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where area fixtures build their tiny models once per test session."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def home(_isolated_home) -> Path:
    return _isolated_home


def natural_clip(n: int, h: int, w: int, seed: int = 0):
    """A clip that reads as natural media (textured colours, a moving object), not as a control map."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([110 + 50 * np.sin(xx / 7), 130 + 40 * np.cos(yy / 5), 150 - 60 * yy / h], -1)
    frames = []
    for t in range(n):
        f = base + rng.normal(0, 20, base.shape)
        f[10 + 2 * t : 30 + 2 * t, 20:40] = (200, 80, 40)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


def pose_clip(n: int, h: int, w: int):
    """A rendered pose skeleton on black (what the pose annotator makes): a control map, used as given."""
    import cv2
    import numpy as np

    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        cx = w // 2 + t - n // 2
        cv2.line(frames[t], (cx, h // 5), (cx, h // 2), (255, 0, 0), 2)
        cv2.line(frames[t], (cx, h // 3), (cx - w // 4, h // 2), (0, 255, 0), 2)
        cv2.line(frames[t], (cx, h // 3), (cx + w // 4, h // 2), (0, 0, 255), 2)
        cv2.line(frames[t], (cx, h // 2), (cx - w // 6, 4 * h // 5), (255, 255, 0), 2)
        cv2.line(frames[t], (cx, h // 2), (cx + w // 6, 4 * h // 5), (255, 0, 255), 2)
    return frames


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small synthetic media: photo.png, dog.jpg, mask.png (binary), gray.png (grey, not a mask), clip.mp4 (9
    frames 64x64), pose.mp4, depth_map.png, broken.mp4 (not a video), notes.txt."""
    import numpy as np
    from PIL import Image

    from unison_agent.media.files import write_video

    d = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(d / "photo.png")
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(d / "dog.jpg")
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 255
    Image.fromarray(mask).save(d / "mask.png")
    Image.fromarray(np.full((64, 96), 128, np.uint8)).save(d / "gray.png")
    yy, xx = np.mgrid[0:64, 0:64]
    Image.fromarray(np.repeat(((xx + yy) * 2).astype(np.uint8)[..., None], 3, -1)).save(d / "depth_map.png")
    write_video(d / "clip.mp4", natural_clip(9, 64, 64))
    write_video(d / "pose.mp4", pose_clip(9, 64, 64))
    (d / "broken.mp4").write_bytes(b"this is not a video")
    (d / "notes.txt").write_text("hello")
    return d


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` need the real published weights: they run only with UNISON_RUN_SLOW=1. Tests marked
    ``heavy`` (published shapes at full request sizes, minutes of CPU each) run only with UNISON_RUN_HEAVY=1."""
    gates = {
        "slow": ("UNISON_RUN_SLOW", "needs real weights: set UNISON_RUN_SLOW=1"),
        "heavy": ("UNISON_RUN_HEAVY", "published shapes at full sizes, ~30 min on 2 cores: set UNISON_RUN_HEAVY=1"),
    }
    for marker, (env, reason) in gates.items():
        if os.environ.get(env) == "1":
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)
    # under pytest-xdist (`-n 2 --dist loadgroup`, the default addopts), tests that share an expensive module or
    # session fixture (a served app, the published kit) run on one worker, so it is built once
    for item in items:
        parts = Path(str(item.fspath)).parts
        for area in ("published", "web", "serve"):
            if area in parts:
                item.add_marker(pytest.mark.xdist_group(area))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from threads; on a shared 2-core machine spinning threads cost 10-40x."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_qwen(tiny_root: Path) -> dict[str, str]:
    """The tiny Qwen2.5-VL kit: base, Unison LoRA + projector.pth, merged planner (settings overrides)."""
    from unison_agent.tiny.qwen import build_tiny_qwen

    return build_tiny_qwen(tiny_root)


@pytest.fixture(scope="session")
def tiny_vace(tiny_root: Path) -> dict[str, str]:
    """The tiny Wan2.1-VACE pipeline in the diffusers layout (settings overrides)."""
    from unison_agent.tiny.wan import build_tiny_vace

    return build_tiny_vace(tiny_root)


@pytest.fixture(scope="session")
def tiny_annotators(tiny_root: Path) -> dict[str, str]:
    """The tiny annotator kit: depth, pose + person detector, Grounding DINO, SAM 2 (settings overrides)."""
    from unison_agent.tiny.annotators import build_tiny_annotators

    return build_tiny_annotators(tiny_root / "annotators")


@pytest.fixture
def vace_calls(monkeypatch):
    """Every call that reaches ``diffusers.WanVACEPipeline.__call__``: its keyword arguments, plus the video and
    mask as diffusers itself preprocesses them ((1, C, T, H, W) tensors, video in [-1, 1], mask in [0, 1])."""
    from diffusers import WanVACEPipeline

    calls: list[dict] = []
    original = WanVACEPipeline.__call__

    def spy(self, *args, **kwargs):
        seen = dict(kwargs)
        h, w = kwargs.get("height"), kwargs.get("width")
        if kwargs.get("video") is not None:
            seen["video_tensor"] = self.video_processor.preprocess_video(kwargs["video"], h, w)
        if kwargs.get("mask") is not None:
            mask = self.video_processor.preprocess_video(kwargs["mask"], h, w)
            seen["mask_tensor"] = ((mask + 1) / 2).clamp(0, 1)
        calls.append(seen)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WanVACEPipeline, "__call__", spy)
    return calls
