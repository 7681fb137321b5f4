"""Weight-free annotators: gray, canny, scribble, outpainting, frame expansion, subject crop, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from unison_agent.contract.errors import MediaError
from unison_agent.tools import classic
from unison_agent.tools.annotator_models import as_frames


@pytest.mark.parametrize("fn", [classic.gray_frames, classic.canny_frames, classic.scribble_frames])
def test_simple_controls_keep_shape_and_are_grey_rgb(fn, scene, clip):
    for frames in (scene[None], clip):
        out = fn(frames)
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_gray_matches_luma(scene):
    out = classic.gray_frames(scene[None])
    # the red rectangle's luma: 0.299*220 + 0.587*40 + 0.114*40 ≈ 94
    assert abs(int(out[0, 32, 48, 0]) - 94) <= 1


def test_canny_marks_the_rectangle_border_only(scene):
    edges = classic.canny_frames(scene[None])[0, ..., 0]
    assert set(np.unique(edges)) <= {0, 255}
    assert edges[16:48, 30:34].any()  # left border of the rectangle
    assert not edges[24:40, 40:56].any()  # flat inside
    assert not edges[:, -8:].any()  # flat background


def test_scribble_strokes_are_thicker_than_canny(scene):
    scribble = classic.scribble_frames(scene[None])[0, ..., 0]
    canny = classic.canny_frames(scene[None])[0, ..., 0]
    assert set(np.unique(scribble)) <= {0, 255}
    assert (scribble > 0).sum() > (canny > 0).sum() > 0


def test_outpaint_canvas_pads_grey_with_white_mask(scene):
    canvas, mask = classic.outpaint_canvas(scene[None], expand=0.25)
    assert canvas.shape == (1, 64 + 32, 96 + 48, 3) and mask.shape == canvas.shape[:3]
    assert np.array_equal(canvas[0, 16:80, 24:120], scene)  # the original, centred
    assert (mask[0, 16:80, 24:120] == 0).all() and (mask[0, :16] == 255).all() and (mask[0, :, :24] == 255).all()
    assert (canvas[0, :16] == classic.GREY).all()


def test_outpaint_one_side_and_even_sizes(clip):
    canvas, mask = classic.outpaint_canvas(clip, expand=0.3, sides=("right",))
    assert canvas.shape[0] == 4 and canvas.shape[1] == 64 and canvas.shape[2] % 2 == 0
    assert (mask[:, :, :64] == 0).all() and (mask[:, :, 64:] == 255).all()
    with pytest.raises(ValueError, match="sides"):
        classic.outpaint_canvas(clip, sides=("top",))


@pytest.mark.parametrize("anchor,index", [("first", 0), ("last", 8)])
def test_expand_frame_puts_image_at_one_end(scene, anchor, index):
    frames, masks = classic.expand_frame(scene, 9, anchor)
    assert frames.shape == (9, 64, 96, 3) and masks.shape == (9, 64, 96)
    assert np.array_equal(frames[index], scene) and (masks[index] == 0).all()
    others = [i for i in range(9) if i != index]
    assert (frames[others] == 127).all() and (masks[others] == 255).all()


def test_expand_frame_rejects_a_video(clip):
    with pytest.raises(MediaError, match="one image"):
        classic.expand_frame(clip, 9, "first")


def test_subject_crop_whitens_background_and_crops(scene):
    mask = np.zeros(scene.shape[:2], np.uint8)
    mask[16:48, 32:64] = 255
    crop = classic.subject_crop(scene, mask, margin=0.0)
    assert crop.shape == (32, 32, 3)
    assert (crop == (220, 40, 40)).all()
    crop = classic.subject_crop(scene, mask, margin=0.1)
    assert crop.shape[0] > 32 and (crop[0, 0] == 255).all()  # margin pixels are outside the mask: white


def test_subject_crop_empty_mask_is_a_clear_error(scene):
    with pytest.raises(MediaError, match="mask is empty"):
        classic.subject_crop(scene, np.zeros(scene.shape[:2], np.uint8))


def test_as_frames_checks_input(scene):
    assert as_frames(scene).shape == (1, 64, 96, 3)
    with pytest.raises(MediaError, match="uint8"):
        as_frames(scene.astype(np.float32))
    with pytest.raises(MediaError, match=r"\(T, H, W, 3\)"):
        as_frames(scene[..., 0])
