"""Grounded edit masks: Grounding DINO (text -> box) + SAM 2 (box -> mask), for images and videos.

VACE's convention: Grounding DINO with box threshold 0.25 and text threshold 0.2, NMS at IoU 0.5, the best
box kept; then SAM 2 turns the box into a mask (``Sam2Model`` for an image). For a video, the first frame
where the target is found gets the box, and SAM 2 video propagation (``Sam2VideoModel``) carries the mask
forward through the rest of the clip; frames before that one stay 0 (the target was not seen there). If
SAM 2 segments nothing inside a found box, the box itself is the mask.

Masks are uint8 0/255, white = edit. The target text comes from the request ("make **the bird** white" ->
"bird") through ``target_from_request``, which lives with the planners (unison_agent.planners.targets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.core.progress import restart, step
from unison_agent.planners.targets import target_from_request  # noqa: F401  (re-exported: tools use it too)
from unison_agent.tools.annotator_models import as_frames, load_cached

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

BOX_THRESHOLD = 0.25
TEXT_THRESHOLD = 0.2
NMS_IOU = 0.5

# ----------------------------------------------------------------------------------------------------------
# models


@dataclass
class Detection:
    """The best box for a target on one frame: [x0, y0, x1, y1] pixels and its score."""

    box: np.ndarray
    score: float
    frame_index: int


@dataclass
class GroundedMask:
    """Masks (T, H, W) uint8 0/255 for a target, and where it was found (None: not found; masks all 0)."""

    masks: np.ndarray
    detection: Detection | None

    @property
    def found(self) -> bool:
        return self.detection is not None


@dataclass
class GroundingDino:
    """Grounding DINO detector + processor."""

    model: Any
    processor: Any
    device: Any

    @classmethod
    def from_settings(cls, settings: Settings) -> GroundingDino:
        def factory(path, device):
            from transformers import AutoProcessor, GroundingDinoForObjectDetection

            processor = AutoProcessor.from_pretrained(path)
            return cls(GroundingDinoForObjectDetection.from_pretrained(path).to(device).eval(), processor, device)

        return load_cached("grounding-dino", settings, "grounding_model", factory)

    def detect(
        self,
        frame: np.ndarray,
        target: str,
        *,
        box_threshold: float = BOX_THRESHOLD,
        text_threshold: float = TEXT_THRESHOLD,
        nms_iou: float = NMS_IOU,
    ) -> tuple[np.ndarray, float] | None:
        """The best box [x0, y0, x1, y1] and score for ``target`` on one (H, W, 3) frame, or None."""
        import torch
        from torchvision.ops import nms

        h, w = frame.shape[:2]
        prompt = target.strip().lower().rstrip(".") + "."
        inputs = self.processor(images=frame, text=prompt, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        result = self.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold, target_sizes=[(h, w)]
        )[0]
        boxes, scores = result["boxes"].float().cpu(), result["scores"].float().cpu()
        if len(boxes) == 0:
            return None
        keep = nms(boxes, scores, nms_iou)
        best = keep[int(torch.argmax(scores[keep]))]
        box = boxes[best].numpy().astype(np.float32)
        box[[0, 2]] = box[[0, 2]].clip(0, w)
        box[[1, 3]] = box[[1, 3]].clip(0, h)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return None
        return box, float(scores[best])


@dataclass
class Sam2:
    """SAM 2 image model, video model and their processors (one checkpoint directory serves both)."""

    image_model: Any
    image_processor: Any
    video_model: Any
    video_processor: Any
    device: Any

    @classmethod
    def from_settings(cls, settings: Settings, *, video: bool = False) -> Sam2:
        """The image model always; the video model too when ``video`` (each loaded once per process)."""

        def image_factory(path, device):
            from transformers import Sam2Model, Sam2Processor

            return Sam2Model.from_pretrained(path).to(device).eval(), Sam2Processor.from_pretrained(path)

        def video_factory(path, device):
            from transformers import Sam2VideoModel, Sam2VideoProcessor

            return Sam2VideoModel.from_pretrained(path).to(device).eval(), Sam2VideoProcessor.from_pretrained(path)

        image_model, image_processor = load_cached("sam2-image", settings, "sam2_model", image_factory)
        video_model = video_processor = None
        if video:
            video_model, video_processor = load_cached("sam2-video", settings, "sam2_model", video_factory)
        return cls(image_model, image_processor, video_model, video_processor, image_model.device)

    def image_mask(
        self, frame: np.ndarray, *, box: np.ndarray | None = None, point: tuple[float, float] | None = None
    ) -> np.ndarray:
        """(H, W) uint8 0/255 mask of the object in ``box`` (or under ``point``); the best-scored proposal."""
        import torch

        h, w = frame.shape[:2]
        prompts = _prompts(box, point)
        inputs = self.image_processor(images=frame, return_tensors="pt", **prompts).to(self.device)
        with torch.inference_mode():
            outputs = self.image_model(**inputs, multimask_output=point is not None and box is None)
        masks = self.image_processor.post_process_masks(outputs.pred_masks.cpu(), inputs["original_sizes"].cpu())[0]
        best = int(torch.argmax(outputs.iou_scores[0, 0]).item()) if masks.shape[1] > 1 else 0
        return _to_uint8(masks[0, best].numpy(), (h, w))

    def video_masks(
        self,
        frames: np.ndarray,
        start: int,
        *,
        box: np.ndarray | None = None,
        point: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """(T, H, W) uint8 0/255: the object prompted on frame ``start`` propagated to the end of the clip."""
        import torch

        if self.video_model is None:
            raise RuntimeError("Sam2.from_settings(..., video=True) loads the video model")
        t, h, w = frames.shape[:3]
        out = np.zeros((t, h, w), np.uint8)
        session = self.video_processor.init_video_session(video=frames, inference_device=self.device)
        self.video_processor.add_inputs_to_inference_session(
            inference_session=session, frame_idx=start, obj_ids=1, **_prompts(box, point)
        )
        restart("annotating")  # frames are counted from here (the models are loaded)
        with torch.inference_mode():
            for done, output in enumerate(
                self.video_model.propagate_in_video_iterator(inference_session=session, start_frame_idx=start), 1
            ):
                masks = self.video_processor.post_process_masks(
                    [output.pred_masks.cpu()], original_sizes=[[h, w]], binarize=True
                )[0]
                out[output.frame_idx] = _to_uint8(masks[0, 0].numpy(), (h, w))
                step("annotating", done, max(done, t - start), annotator="mask")
        return out


def _prompts(box: np.ndarray | None, point: tuple[float, float] | None) -> dict[str, Any]:
    if box is not None:
        return {"input_boxes": [[[float(v) for v in box]]]}
    if point is not None:
        return {"input_points": [[[[float(point[0]), float(point[1])]]]], "input_labels": [[[1]]]}
    raise ValueError("a SAM 2 prompt needs a box or a point")


def _to_uint8(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != size:
        raise ValueError(f"SAM 2 returned a {mask.shape} mask for a {size} frame")
    return np.where(mask > 0, 255, 0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# the tool


def find_target(
    frames: np.ndarray,
    target: str,
    settings: Settings,
    *,
    box_threshold: float = BOX_THRESHOLD,
    text_threshold: float = TEXT_THRESHOLD,
) -> Detection | None:
    """Grounding DINO over the frames in order; the first frame's best box, or None if no frame has one."""
    frames = as_frames(frames)
    detector = GroundingDino.from_settings(settings)
    for index, frame in enumerate(frames):
        found = detector.detect(frame, target, box_threshold=box_threshold, text_threshold=text_threshold)
        if found is not None:
            return Detection(found[0], found[1], index)
    return None


def grounded_masks(
    frames: np.ndarray,
    target: str,
    settings: Settings,
    *,
    box_threshold: float = BOX_THRESHOLD,
    text_threshold: float = TEXT_THRESHOLD,
) -> GroundedMask:
    """(T, H, W, 3) uint8 -> masks (T, H, W) 0/255 of ``target`` (all 0 and ``found`` False if not found)."""
    frames = as_frames(frames)
    if not target or not target.strip():
        raise ValueError("grounded_masks needs a non-empty target phrase")
    t, h, w = frames.shape[:3]
    detection = find_target(frames, target, settings, box_threshold=box_threshold, text_threshold=text_threshold)
    if detection is None:
        return GroundedMask(np.zeros((t, h, w), np.uint8), None)
    if t == 1:
        masks = Sam2.from_settings(settings).image_mask(frames[0], box=detection.box)[None]
    else:
        masks = Sam2.from_settings(settings, video=True).video_masks(frames, detection.frame_index, box=detection.box)
    if not masks[detection.frame_index].any():  # SAM 2 segmented nothing inside the box: edit the box itself
        masks[detection.frame_index :] = box_mask(detection.box, h, w)
    return GroundedMask(masks, detection)


def box_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) uint8 mask, 255 inside the [x0, y0, x1, y1] box."""
    x0, y0 = (int(np.floor(v)) for v in box[:2])
    x1, y1 = (int(np.ceil(v)) for v in box[2:])
    mask = np.zeros((height, width), np.uint8)
    mask[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)] = 255
    return mask
