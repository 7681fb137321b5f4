"""Annotator fixtures: the tiny annotator kit (built once per session), CPU settings, synthetic media."""

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
def tiny_annotators(tiny_root: Path) -> dict[str, str]:
    from unison_agent.tiny.annotators import build_tiny_annotators

    return build_tiny_annotators(tiny_root / "annotators")


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
