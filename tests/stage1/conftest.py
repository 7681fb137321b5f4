"""Stage-one fixtures: the tiny Qwen2.5-VL kit (built once per session), settings pointing at it, small media."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """Skip this area's slow (real-weight) tests unless UNISON_RUN_SLOW=1."""
    if os.environ.get("UNISON_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="needs real weights: set UNISON_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_qwen(tiny_root: Path) -> dict[str, str]:
    from unison_agent.tiny.qwen import build_tiny_qwen

    return build_tiny_qwen(tiny_root)


@pytest.fixture(scope="session")
def s1_settings(tiny_qwen, home):
    """CPU, float32, the tiny planner in all three forms, short answers."""
    from unison_agent.settings import Settings

    flags = {"home": str(home), "device": "cpu", "dtype": "float32", "max_new_tokens": 8, **tiny_qwen}
    return Settings.resolve(flags, env={})


@pytest.fixture(scope="session")
def base_only(s1_settings, tmp_path_factory):
    """Settings with only the base model (no adapter, no merged planner, no projector)."""
    empty = tmp_path_factory.mktemp("no_unison")
    return s1_settings.replace(unison=str(empty), planner_merged=None)


def _noise(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 64x80 photo, a second photo, a binary mask, and a 16-frame 8 fps video (2 s)."""
    from unison_agent.media import write_image, write_video

    d = tmp_path_factory.mktemp("s1_media")
    mask = np.zeros((64, 80, 3), np.uint8)
    mask[16:48, 20:60] = 255
    return {
        "image": write_image(d / "photo.png", _noise(64, 80, 1)),
        "image2": write_image(d / "other.png", _noise(56, 56, 2)),
        "mask": write_image(d / "mask.png", mask),
        "video": write_video(d / "clip.mp4", np.stack([_noise(64, 64, 10 + i) for i in range(16)]), fps=8),
    }


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (two threads on a shared 2-core machine spin on each op)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
