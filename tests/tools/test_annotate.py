"""The wiring generation calls: control_frames and edit_mask (grounded, fallback, salient), model caching."""

from __future__ import annotations

import numpy as np
import pytest

from unison_agent.models.registry import registry
from unison_agent.tools import salient
from unison_agent.tools.annotate import CONTROL_KINDS, control_frames, edit_mask
from unison_agent.tools.salient import centre_ellipse, salient_masks


@pytest.mark.parametrize("kind", [k for k in CONTROL_KINDS if k != "flow"])
def test_control_frames_keep_count_and_shape(ann_settings, clip, kind):
    out = control_frames(clip, kind, ann_settings)
    assert out.shape == clip.shape and out.dtype == np.uint8


def test_control_frames_ready_is_the_input(ann_settings, clip):
    assert control_frames(clip, "ready", ann_settings) is clip


def test_control_frames_unknown_kind(ann_settings, clip):
    with pytest.raises(ValueError, match="unknown control kind 'sketch'"):
        control_frames(clip, "sketch", ann_settings)


def test_edit_mask_with_target_found(ann_settings, scene, clip):
    masks, note = edit_mask(scene, "bird", ann_settings, box_threshold=0.0)
    assert masks.shape == (1, 64, 96) and set(np.unique(masks)) <= {0, 255} and masks.any()
    assert "grounded mask" in note and "'bird'" in note
    masks, note = edit_mask(clip, "bird", ann_settings, box_threshold=0.0)
    assert masks.shape == (4, 64, 64) and "tracked with SAM 2" in note


def test_edit_mask_target_not_found_falls_back_to_salient(ann_settings, scene, clip):
    masks, note = edit_mask(scene, "unicorn", ann_settings, box_threshold=1.0)
    assert "'unicorn' was not found" in note and "salient" in note
    expected, _ = salient_masks(scene[None], ann_settings)
    assert np.array_equal(masks, expected) and masks.shape == (1, 64, 96) and masks.any()
    masks, note = edit_mask(clip, "unicorn", ann_settings, box_threshold=1.0)
    assert "'unicorn' was not found" in note and masks.shape == (4, 64, 64) and masks[0].any()


def test_edit_mask_without_target_is_salient(ann_settings, clip):
    masks, note = edit_mask(clip, None, ann_settings)
    assert note.startswith("no edit target named") and masks.shape == (4, 64, 64)
    assert set(np.unique(masks)) <= {0, 255} and masks[0].any()


def test_salient_degenerate_sam_mask_uses_centre_region(ann_settings, scene, monkeypatch):
    monkeypatch.setattr(salient.Sam2, "image_mask", lambda self, frame, **kw: np.zeros(frame.shape[:2], np.uint8))
    masks, note = edit_mask(scene, None, ann_settings)
    assert np.array_equal(masks[0], centre_ellipse(64, 96)) and "centre region" in note
    assert masks[0, 32, 48] == 255 and masks[0, 0, 0] == 0  # white = edit in the middle, corners kept


def test_models_load_once_per_process(ann_settings, scene):
    control_frames(scene, "depth", ann_settings)
    edit_mask(scene, "bird", ann_settings)
    before = list(registry().loads)
    control_frames(scene, "depth", ann_settings)
    control_frames(scene, "pose", ann_settings)
    edit_mask(scene, "bird", ann_settings)
    new = [k for k in registry().loads[len(before) :] if k[1] not in ("pose", "person-detector")]
    assert new == []
    assert len(registry().loads) == len(set(registry().loads))


def test_control_frames_flow_of_an_image(ann_settings, scene):
    out = control_frames(scene, "flow", ann_settings)
    assert out.shape == (1, 64, 96, 3) and (out == 255).all()
