"""Real published annotator checkpoints (opt in: UNISON_RUN_SLOW=1, weights under UNISON_HOME/models)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_settings():
    from unison_agent.contract.settings import Settings

    return Settings.resolve()


@pytest.fixture(scope="module")
def square() -> np.ndarray:
    """A red square on a light background, 256x384."""
    img = np.full((256, 384, 3), 235, np.uint8)
    img[80:176, 144:240] = (220, 30, 30)
    return img


def test_real_depth_and_pose_shapes(real_settings, square):
    from unison_agent.tools.annotate import control_frames

    for kind in ("depth", "pose"):
        out = control_frames(square, kind, real_settings)
        assert out.shape == (1, 256, 384, 3) and out.dtype == np.uint8


def test_real_grounded_mask_finds_the_square(real_settings, square):
    from unison_agent.tools.annotate import edit_mask

    masks, note = edit_mask(np.stack([square] * 3), "red square", real_settings)
    assert "grounded mask" in note and masks.shape == (3, 256, 384)
    inside = masks[0, 80:176, 144:240].mean() / 255
    outside = np.concatenate([masks[0, :60].ravel(), masks[0, 200:].ravel()]).mean() / 255
    assert inside > 0.8 and outside < 0.05
