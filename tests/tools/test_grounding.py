"""Grounded masks: the request's target phrase, Grounding DINO + SAM 2 on images and videos."""

from __future__ import annotations

import numpy as np
import pytest

from unison_agent.tools import grounding
from unison_agent.tools.grounding import box_mask, grounded_masks, target_from_request


@pytest.mark.parametrize(
    "text,target",
    [
        ("make **the bird** white", "bird"),
        ("make the bird white", "bird"),
        ("Make the red car blue in ###photos/street.png###", "red car"),
        ("replace the cat with a dog", "cat"),
        ("change the colour of the car to red", "car"),
        ("remove the person from <VIDPAD>", "person"),
        ('paint "old wooden door" green', "old wooden door"),
        ("turn her hat into a crown", "hat"),
        ("make the image brighter", None),
        ("make it look like winter", None),
        ("what is in this picture?", None),
        ("", None),
    ],
)
def test_target_from_request(text, target):
    assert target_from_request(text) == target


def test_image_target_found(ann_settings, scene):
    result = grounded_masks(scene[None], "bird", ann_settings, box_threshold=0.0)
    assert result.found and result.detection.frame_index == 0
    assert result.masks.shape == (1, 64, 96) and result.masks.dtype == np.uint8
    assert set(np.unique(result.masks)) <= {0, 255} and result.masks.any()
    x0, y0, x1, y1 = result.detection.box
    assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64


def test_image_target_not_found(ann_settings, scene):
    result = grounded_masks(scene[None], "bird", ann_settings, box_threshold=1.0)
    assert not result.found and result.masks.shape == (1, 64, 96) and not result.masks.any()


def test_video_propagates_from_first_frame_where_found(ann_settings, clip, monkeypatch):
    calls = []
    real = grounding.GroundingDino.detect

    def detect_from_third_frame(self, frame, target, **kw):
        calls.append(target)
        if len(calls) < 3:
            return None
        return real(self, frame, target, box_threshold=0.0)

    monkeypatch.setattr(grounding.GroundingDino, "detect", detect_from_third_frame)
    result = grounded_masks(clip, "red box", ann_settings)
    assert result.found and result.detection.frame_index == 2 and len(calls) == 3
    assert result.masks.shape == (4, 64, 64)
    assert not result.masks[:2].any() and result.masks[2].any()


def test_video_target_found_on_first_frame(ann_settings, clip):
    result = grounded_masks(clip, "red box", ann_settings, box_threshold=0.0)
    assert result.found and result.detection.frame_index == 0
    assert result.masks.shape == (4, 64, 64) and set(np.unique(result.masks)) <= {0, 255}


def test_empty_sam_mask_falls_back_to_the_box(ann_settings, scene, monkeypatch):
    monkeypatch.setattr(grounding.Sam2, "image_mask", lambda self, frame, **kw: np.zeros(frame.shape[:2], np.uint8))
    result = grounded_masks(scene[None], "bird", ann_settings, box_threshold=0.0)
    assert np.array_equal(result.masks[0], box_mask(result.detection.box, 64, 96))


def test_box_mask():
    mask = box_mask(np.array([2.5, 1.0, 5.0, 3.2]), 6, 8)
    assert mask.shape == (6, 8) and mask[1:4, 2:5].all() and mask.sum() == 255 * 9


def test_empty_target_is_an_error(ann_settings, scene):
    with pytest.raises(ValueError, match="non-empty target"):
        grounded_masks(scene[None], "  ", ann_settings)
