"""Published-shape fixtures: the kit (built once per test session, cached on disk), settings, 256 px media.

The kit lives in ``$UNISON_PUBLISHED_KIT_DIR`` when set (a cache kept between runs; its version stamp makes a
stale one rebuild) and in the session's temporary model root otherwise. Timings of the build, the loads and
every generation are collected in ``TIMINGS`` and printed at the end of the run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import natural_clip, pose_clip

TIMINGS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("published-shape timings (seconds)")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:<48} {seconds:8.1f}")


@pytest.fixture(scope="session")
def published_kit(tiny_root: Path) -> dict[str, str]:
    from unison_agent.tiny.published import build_published_kit

    root = Path(os.environ.get("UNISON_PUBLISHED_KIT_DIR") or tiny_root / "published")
    t0 = time.perf_counter()
    kit = build_published_kit(root)
    TIMINGS["kit build (or cache check)"] = time.perf_counter() - t0
    return kit


@pytest.fixture(scope="session")
def published_settings(published_kit, tiny_annotators, tmp_path_factory):
    """CPU (or CUDA when present), one denoising step, the rules planner, the published-shape models.

    Annotators come from the tiny annotator kit: they are not part of this check, and the requests below give
    ready control maps and masks, so none should run; if one does, it still runs."""
    from unison_agent.contract.settings import Settings

    device = "cuda" if _cuda() else "cpu"
    home = tmp_path_factory.mktemp("published_home")
    return Settings.resolve(
        {
            "home": str(home),
            "planner": "rules",
            "device": device,
            "dtype": "float32",
            "steps": 1,
            **published_kit,
            **tiny_annotators,
        },
        env={},
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _all_cores():
    """Published widths are real work: use every core (the test-wide default is one thread)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def published_media(tmp_path_factory) -> dict[str, Path]:
    """Inputs at least as large as the outputs (sources are never upscaled): 256x256 and 480x832 (W x H)."""
    from unison_agent.media.files import write_image, write_video

    d = tmp_path_factory.mktemp("published_media")
    files = {"fox": write_image(d / "fox.png", natural_clip(1, 256, 256, seed=1)[0])}
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:192] = 255
    files["mask"] = write_image(d / "mask.png", mask)
    yy, xx = np.mgrid[0:256, 0:256]
    files["depth"] = write_image(d / "depth.png", np.repeat(((xx + yy) // 2).astype(np.uint8)[..., None], 3, -1))
    files["clip"] = write_video(d / "clip.mp4", natural_clip(5, 256, 256, seed=2), fps=16)
    files["pose"] = write_video(d / "pose.mp4", pose_clip(5, 256, 256), fps=16)
    files["tall_clip"] = write_video(d / "tall_clip.mp4", natural_clip(5, 832, 480, seed=3), fps=16)
    tall = np.zeros((832, 480), np.uint8)
    tall[200:600, 120:360] = 255
    files["tall_mask"] = write_image(d / "tall_mask.png", tall)
    return files
