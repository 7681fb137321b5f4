"""Stage-one fixtures: the tiny Qwen2.5-VL kit (built once per session), settings pointing at it, small media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


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
