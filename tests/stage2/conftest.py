"""Stage-two fixtures: the tiny Wan2.1-VACE pipeline (built once per session), settings, and small media files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def s2_settings(tiny_vace, home):
    """CPU, float32, 2 steps, the tiny VACE; everything else the method's defaults."""
    from unison_agent.settings import Settings

    return Settings.resolve({"home": str(home), "device": "cpu", "dtype": "float32", "steps": 2, **tiny_vace}, env={})


@pytest.fixture(scope="session")
def pipe(s2_settings):
    from unison_agent.vace_loader import load_vace

    return load_vace(s2_settings)


def _gradient(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), np.full_like(x, 90)], -1).astype(np.uint8)
    return np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small files: an 80x64 image and its mask, a smaller mask, a 9-frame video, a reference, a broken video."""
    from unison_agent.media import write_image, write_video

    d = tmp_path_factory.mktemp("s2_media")
    files: dict[str, Path] = {}
    files["image"] = write_image(d / "photo.png", _gradient(64, 80, 1))
    mask = np.zeros((64, 80), np.uint8)
    mask[16:48, 24:56] = 255
    files["mask"] = write_image(d / "mask.png", mask)
    small = np.zeros((32, 40), np.uint8)
    small[8:24, 12:28] = 255
    files["small_mask"] = write_image(d / "small_mask.png", small)
    files["video"] = write_video(d / "clip.mp4", np.stack([_gradient(64, 80, i) for i in range(9)]), fps=16)
    pose = np.zeros((9, 64, 80, 3), np.uint8)
    for i in range(9):
        pose[i, 10:54, 30 + i : 34 + i] = (255, 0, 0)
    files["pose"] = write_video(d / "pose.mp4", pose, fps=16)
    files["depth"] = write_image(d / "depth.png", np.repeat(_gradient(64, 80, 5)[..., :1], 3, axis=-1))
    files["reference"] = write_image(d / "ref.png", _gradient(64, 48, 7))
    files["tiny"] = write_image(d / "tiny.png", _gradient(8, 8, 3))
    broken = d / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    files["broken"] = broken
    return files
