"""Annotator fixtures: the tiny annotator kit (built once per session), CPU settings, synthetic media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def ann_settings(tiny_annotators, home):
    """CPU settings pointing every annotator checkpoint at the tiny kit."""
    from unison_agent.settings import Settings

    return Settings.resolve({"home": str(home), "device": "cpu", **tiny_annotators}, env={})


def draw_scene(h: int = 64, w: int = 96, shift: int = 0) -> np.ndarray:
    """A grey background with a red rectangle (the 'subject') and a blue disc."""
    img = np.full((h, w, 3), 40, np.uint8)
    img[h // 4 : 3 * h // 4, w // 3 + shift : 2 * w // 3 + shift] = (220, 40, 40)
    yy, xx = np.mgrid[0:h, 0:w]
    img[(yy - h // 5) ** 2 + (xx - w // 6) ** 2 <= (h // 8) ** 2] = (30, 60, 230)
    return img


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    """(64, 96, 3) uint8 test image."""
    return draw_scene()


@pytest.fixture(scope="session")
def clip() -> np.ndarray:
    """(4, 64, 64, 3) uint8 test video: the rectangle moves right."""
    return np.stack([draw_scene(64, 64, 2 * t) for t in range(4)])


@pytest.fixture(scope="session")
def ann_media(tmp_path_factory, scene, clip) -> Path:
    """scene.png, clip.mp4, broken.mp4 (not a video), broken.png (not an image) on disk."""
    from unison_agent.media import write_image, write_video

    d = tmp_path_factory.mktemp("ann_media")
    write_image(d / "scene.png", scene)
    write_video(d / "clip.mp4", clip, fps=16)
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00 not really an mp4")
    (d / "broken.png").write_bytes(b"not a png")
    return d
