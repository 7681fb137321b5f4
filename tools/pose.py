"""Pose control frames: RT-DETR person boxes + ViTPose keypoints, drawn as an OpenPose-18 skeleton on black.

Per frame: RT-DETR (transformers) finds people (label "person", score >= ``person_threshold``); ViTPose
estimates the 17 COCO keypoints inside each box; the keypoints are reordered to OpenPose-18 with the neck
inserted as the mean of the shoulders, and drawn with OpenPose's limb and joint colours (the convention of
VACE's pose annotator). Several people per frame are drawn on the same canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.core.progress import restart, step
from unison_agent.tools.annotator_models import as_frames, batches, load_cached

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

BATCH = 8
PERSON_THRESHOLD = 0.3
KEYPOINT_THRESHOLD = 0.3

# OpenPose-18 index -> COCO-17 index (1 = neck, computed from the shoulders)
OPENPOSE_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# limbs as 1-based OpenPose joint pairs (ControlNet / VACE drawing order); the first 17 are drawn
LIMBS = (
    (2, 3),
    (2, 6),
    (3, 4),
    (4, 5),
    (6, 7),
    (7, 8),
    (2, 9),
    (9, 10),
    (10, 11),
    (2, 12),
    (12, 13),
    (13, 14),
    (2, 1),
    (1, 15),
    (15, 17),
    (1, 16),
    (16, 18),
)
COLORS = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
    (255, 0, 85),
)


@dataclass
class Person:
    """One person's OpenPose-18 keypoints (18, 2) in pixels and their visibility (18,) bool."""

    points: np.ndarray
    visible: np.ndarray


def coco_to_openpose(keypoints: np.ndarray, scores: np.ndarray, threshold: float = KEYPOINT_THRESHOLD) -> Person:
    """COCO-17 keypoints (17, 2) + scores (17,) -> OpenPose-18 order, neck = mean of the shoulders."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    points = np.zeros((18, 2), np.float32)
    visible = np.zeros(18, bool)
    for op, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is None:
            points[op] = (keypoints[5] + keypoints[6]) / 2.0
            visible[op] = bool(scores[5] >= threshold and scores[6] >= threshold)
        else:
            points[op] = keypoints[coco]
            visible[op] = bool(scores[coco] >= threshold)
    return Person(points, visible)


def draw_openpose(height: int, width: int, people: list[Person]) -> np.ndarray:
    """An OpenPose-18 skeleton drawing (H, W, 3) uint8 RGB on black."""
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    stick = max(1, round(4 * min(height, width) / 512))
    radius = max(1, round(4 * min(height, width) / 512))
    for person in people:
        for i, (a, b) in enumerate(LIMBS):
            if not (person.visible[a - 1] and person.visible[b - 1]):
                continue
            (x1, y1), (x2, y2) = person.points[a - 1], person.points[b - 1]
            length = math.hypot(x2 - x1, y2 - y1)
            angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
            center = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
            polygon = cv2.ellipse2Poly(center, (max(1, int(length / 2)), stick), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, [int(c * 0.6) for c in COLORS[i]])
        for j in range(18):
            if person.visible[j]:
                x, y = person.points[j]
                cv2.circle(canvas, (int(round(x)), int(round(y))), radius, COLORS[j], thickness=-1)
    return canvas


@dataclass
class PoseModels:
    """RT-DETR person detector + ViTPose estimator with their processors."""

    detector: Any
    detector_processor: Any
    estimator: Any
    estimator_processor: Any
    person_label: int
    device: Any

    @classmethod
    def from_settings(cls, settings: Settings) -> PoseModels:
        """Load (once per process) ``settings.person_model`` and ``settings.pose_model``."""

        def detector_factory(path, device):
            from transformers import AutoImageProcessor, RTDetrForObjectDetection

            return (
                RTDetrForObjectDetection.from_pretrained(path).to(device).eval(),
                AutoImageProcessor.from_pretrained(path),
            )

        def estimator_factory(path, device):
            from transformers import AutoImageProcessor, VitPoseForPoseEstimation

            return (
                VitPoseForPoseEstimation.from_pretrained(path).to(device).eval(),
                AutoImageProcessor.from_pretrained(path),
            )

        detector, det_proc = load_cached("person-detector", settings, "person_model", detector_factory)
        estimator, est_proc = load_cached("pose", settings, "pose_model", estimator_factory)
        labels = {str(v).lower(): int(k) for k, v in detector.config.id2label.items()}
        person = labels.get("person", 0)
        return cls(detector, det_proc, estimator, est_proc, person, detector.device)

    def detect_people(self, frames: np.ndarray, threshold: float = PERSON_THRESHOLD) -> list[np.ndarray]:
        """Per frame, person boxes (N, 4) as [x0, y0, x1, y1] pixels."""
        import torch

        h, w = frames.shape[1:3]
        found: list[np.ndarray] = []
        for part in batches(len(frames), BATCH):
            chunk = list(frames[part])
            inputs = self.detector_processor(images=chunk, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                outputs = self.detector(**inputs)
            results = self.detector_processor.post_process_object_detection(
                outputs, threshold=threshold, target_sizes=[(h, w)] * len(chunk)
            )
            for res in results:
                keep = res["labels"] == self.person_label
                boxes = res["boxes"][keep].float().cpu().numpy().reshape(-1, 4)
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)]
                found.append(boxes)
        return found

    def keypoints(self, frame: np.ndarray, boxes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """COCO-17 keypoints (17, 2) and scores (17,) for each box of one frame."""
        import torch

        if len(boxes) == 0:
            return []
        coco_boxes = boxes.copy()
        coco_boxes[:, 2:] = boxes[:, 2:] - boxes[:, :2]  # ViTPose takes COCO [x, y, w, h]
        inputs = self.estimator_processor(images=[frame], boxes=[coco_boxes.tolist()], return_tensors="pt")
        inputs = inputs.to(self.device)
        if getattr(self.estimator.config.backbone_config, "num_experts", 1) > 1:  # ViTPose+: COCO is expert 0
            inputs["dataset_index"] = torch.zeros(len(boxes), dtype=torch.long, device=self.device)
        with torch.inference_mode():
            outputs = self.estimator(**inputs)
        results = self.estimator_processor.post_process_pose_estimation(outputs, boxes=[coco_boxes.tolist()])[0]
        return [(np.asarray(r["keypoints"].cpu()), np.asarray(r["scores"].cpu())) for r in results]


def pose_frames(
    frames: np.ndarray,
    settings: Settings,
    *,
    person_threshold: float = PERSON_THRESHOLD,
    keypoint_threshold: float = KEYPOINT_THRESHOLD,
) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> OpenPose-18 skeleton frames (T, H, W, 3) uint8 (black where nobody is found)."""
    frames = as_frames(frames)
    models = PoseModels.from_settings(settings)
    h, w = frames.shape[1:3]
    restart("annotating")  # frames are counted from here (the models are loaded)
    boxes_per_frame = models.detect_people(frames, person_threshold)
    out = np.zeros_like(frames)
    for t, (frame, boxes) in enumerate(zip(frames, boxes_per_frame, strict=True)):
        people = [coco_to_openpose(k, s, keypoint_threshold) for k, s in models.keypoints(frame, boxes)]
        out[t] = draw_openpose(h, w, people)
        step("annotating", t + 1, len(frames), annotator="pose")
    return out
