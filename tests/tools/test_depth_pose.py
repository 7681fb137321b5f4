"""Depth (Depth-Anything-V2) and pose (RT-DETR + ViTPose, OpenPose-18 drawing) on tiny models."""

from __future__ import annotations

import numpy as np

from unison_agent.tools.depth import depth_frames, normalize_depth
from unison_agent.tools.pose import COLORS, coco_to_openpose, draw_openpose, pose_frames


def test_normalize_depth_is_per_frame_min_max():
    depth = np.stack([np.linspace(0, 1, 12).reshape(3, 4), np.linspace(5, 50, 12).reshape(3, 4), np.ones((3, 4))])
    out = normalize_depth(depth)
    assert out.dtype == np.uint8
    assert out[0].min() == 0 and out[0].max() == 255 and out[1].min() == 0 and out[1].max() == 255
    assert (out[2] == 0).all()  # a constant frame has no depth contrast


def test_depth_frames_shapes_and_ranges(ann_settings, scene, clip):
    for frames in (scene[None], clip):
        out = depth_frames(frames, ann_settings)
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert np.array_equal(out[..., 0], out[..., 2])
        assert all(f.min() == 0 and f.max() == 255 for f in out[..., 0])


def test_coco_to_openpose_order_and_neck():
    kp = np.arange(34, dtype=np.float32).reshape(17, 2)
    scores = np.ones(17)
    scores[5] = 0.1  # left shoulder unsure -> no neck
    person = coco_to_openpose(kp, scores, threshold=0.3)
    assert person.points.shape == (18, 2)
    assert np.array_equal(person.points[0], kp[0])  # nose
    assert np.array_equal(person.points[2], kp[6])  # right shoulder
    assert np.array_equal(person.points[5], kp[5])  # left shoulder
    assert np.array_equal(person.points[17], kp[3])  # left ear
    assert np.allclose(person.points[1], (kp[5] + kp[6]) / 2)  # neck
    assert not person.visible[1] and not person.visible[5] and person.visible[2]


def test_draw_openpose_black_canvas_with_palette_joints():
    kp = np.array(
        [
            [48, 10],
            [46, 8],
            [50, 8],
            [44, 9],
            [52, 9],
            [40, 20],
            [56, 20],
            [36, 30],
            [60, 30],
            [34, 40],
            [62, 40],
            [42, 40],
            [54, 40],
            [42, 52],
            [54, 52],
            [42, 62],
            [54, 62],
        ],
        np.float32,
    )
    person = coco_to_openpose(kp, np.ones(17))
    empty = draw_openpose(64, 96, [])
    assert empty.shape == (64, 96, 3) and not empty.any()
    two = draw_openpose(64, 96, [person, coco_to_openpose(kp + [40, 0], np.ones(17))])
    assert two.any() and two[20, 48].any()  # the neck joint is drawn
    assert tuple(two[62, 42]) in {tuple(c) for c in COLORS} | {tuple(int(v * 0.6) for v in c) for c in COLORS}


def test_pose_frames_draw_people_on_black(ann_settings, scene, clip):
    for frames in (scene[None], clip):
        out = pose_frames(frames, ann_settings)
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert all(f.any() for f in out)  # the tiny detector always finds people
        assert (out == 0).all(axis=-1).mean() > 0.3  # mostly black background


def test_pose_frames_nobody_found_is_black(ann_settings, clip):
    out = pose_frames(clip, ann_settings, person_threshold=1.0)
    assert out.shape == clip.shape and not out.any()


def test_several_people_per_frame(ann_settings, scene):
    from unison_agent.tools.pose import PoseModels

    models = PoseModels.from_settings(ann_settings)
    boxes = models.detect_people(scene[None])[0]
    assert boxes.shape[1] == 4 and len(boxes) >= 2  # the tiny detector's queries are all confident people
    people = models.keypoints(scene, boxes)
    assert len(people) == len(boxes) and all(k.shape == (17, 2) and s.shape == (17,) for k, s in people)
