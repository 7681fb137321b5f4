"""The annotators as small classes in one registry: a new annotator is one class here plus one line in ``ANNOTATORS``.

Each has a ``name``, a ``description`` (shown by ``unison annotate --list``), a ``role`` ("control": a control
map for VACE; "mask": an edit mask, white = edit; "canvas", "frameref", "reference": inputs made for the other
tasks), a lazy :meth:`Annotator.setup` (its models load on first call, through the process-wide model cache),
and ``__call__(frames, target=None) -> Made``: the output frames, companion arrays (e.g. the mask beside an
outpainting canvas) and notes for the person ("target not found", ...).

Arrays: frames (T, H, W, 3) uint8 RGB; control maps keep the input's frame count; masks (T, H, W) uint8 0/255.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from unison_agent.contract.plan import DEFAULT_VIDEO_FRAMES as VIDEO_FRAMES
from unison_agent.tools.annotator_models import as_frames
from unison_agent.tools.grounding import BOX_THRESHOLD, TEXT_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

Role = Literal["control", "mask", "canvas", "frameref", "reference"]


@dataclass
class Made:
    """What an annotator made: its main output, companion arrays by name, notes for the person."""

    frames: np.ndarray
    companions: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Annotator(ABC):
    """One annotator. Subclasses set ``name``, ``description``, ``role`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    role: ClassVar[Role] = "control"
    output: ClassVar[Literal["same", "image", "video"]] = "same"  # file kind written: like the input, or fixed
    models: ClassVar[tuple[str, ...]] = ()  # the settings naming its checkpoints (recorded in sidecars)

    def __init__(self) -> None:
        self.settings: Settings | None = None

    def setup(self, settings: Settings) -> Annotator:
        """Remember the settings; models load on the first call (and are cached for the process)."""
        self.settings = settings
        return self

    def __call__(self, frames: np.ndarray, target: str | None = None) -> Made:
        if self.settings is None:
            raise RuntimeError(f"annotator {self.name!r} used before setup(settings)")
        return self.run(as_frames(frames), target)

    @abstractmethod
    def run(self, frames: np.ndarray, target: str | None) -> Made:
        """What this annotator makes of checked frames (T, H, W, 3) uint8."""


# ----------------------------------------------------------------------------------------------------------
# control maps


class Depth(Annotator):
    name, description = "depth", "Depth-Anything-V2 depth map, per-frame min-max, 3 channels (near = bright)"
    models = ("depth_model",)

    def run(self, frames, target):
        from unison_agent.tools.depth import depth_frames

        return Made(depth_frames(frames, self.settings))


class Pose(Annotator):
    name, description = "pose", "OpenPose-18 skeletons on black from RT-DETR person boxes + ViTPose keypoints"
    models = ("pose_model", "person_model")

    def run(self, frames, target):
        from unison_agent.tools.pose import pose_frames

        return Made(pose_frames(frames, self.settings))


class Canny(Annotator):
    name, description = "canny", "Canny edges, white on black"

    def run(self, frames, target):
        from unison_agent.tools.classic import canny_frames

        return Made(canny_frames(frames))


class Gray(Annotator):
    name, description = "gray", "grey-scale frames"

    def run(self, frames, target):
        from unison_agent.tools.classic import gray_frames

        return Made(gray_frames(frames))


class Flow(Annotator):
    name, description = "flow", "RAFT optical-flow visualisation (frame t shows the flow t -> t+1)"
    models = ("raft_weights",)

    def run(self, frames, target):
        from unison_agent.tools.classic import flow_frames

        return Made(flow_frames(frames, self.settings))


class Scribble(Annotator):
    name, description = "scribble", "scribble-like strokes (smoothed, dilated edges), white on black"

    def run(self, frames, target):
        from unison_agent.tools.classic import scribble_frames

        return Made(scribble_frames(frames))


# ----------------------------------------------------------------------------------------------------------
# masks and the other tasks' inputs


class Mask(Annotator):
    name, role = "mask", "mask"
    models = ("grounding_model", "sam2_model")
    description = "edit mask (white = edit) of the target named by --target (Grounding DINO + SAM 2), salient if none"
    box_threshold: float = BOX_THRESHOLD
    text_threshold: float = TEXT_THRESHOLD

    def run(self, frames, target):
        from unison_agent.tools.grounding import grounded_masks
        from unison_agent.tools.salient import salient_masks

        if target is not None and target.strip():
            target = target.strip()
            grounded = grounded_masks(
                frames, target, self.settings, box_threshold=self.box_threshold, text_threshold=self.text_threshold
            )
            if grounded.found:
                det = grounded.detection
                where = f"on frame {det.frame_index} and tracked with SAM 2" if len(frames) > 1 else "with SAM 2"
                return Made(grounded.masks, notes=[f"grounded mask: {target!r} found (score {det.score:.2f}) {where}"])
            masks, note = salient_masks(frames, self.settings)
            return Made(masks, notes=[f"target {target!r} was not found in the input; fell back to the {note}"])
        masks, note = salient_masks(frames, self.settings)
        return Made(masks, notes=[f"no edit target named; {note}"])


class Salient(Mask):
    name, description = "salient", "salient-object mask (white = subject): SAM 2 at the frame centre"
    models = ("sam2_model",)

    def run(self, frames, target):
        return super().run(frames, None)


class Outpaint(Annotator):
    name, role = "outpaint", "canvas"
    description = "grey padding around the input (25 % per side); the mask (white = padding) goes to <out>.mask.<ext>"

    def run(self, frames, target):
        from unison_agent.tools.classic import outpaint_canvas

        canvas, mask = outpaint_canvas(frames)
        return Made(canvas, {"mask": mask})


class FrameRef(Annotator):
    role, output = "frameref", "video"
    anchor: ClassVar[Literal["first", "last"]] = "first"
    num_frames: int = VIDEO_FRAMES

    def run(self, frames, target):
        from unison_agent.contract.errors import MediaError
        from unison_agent.tools.classic import expand_frame

        if len(frames) > 1:
            raise MediaError(f"{self.name} expands an image into a video; give an image, not a video")
        clip, masks = expand_frame(frames[0], self.num_frames, self.anchor)
        return Made(clip, {"mask": masks})


class FrameRefFirst(FrameRef):
    name, anchor = "frameref-first", "first"
    description = "image -> video: the image as the first frame, grey frames after; mask to <out>.mask.mp4"


class FrameRefLast(FrameRef):
    name, anchor = "frameref-last", "last"
    description = "image -> video: the image as the last frame, grey frames before; mask to <out>.mask.mp4"


class Subject(Annotator):
    name, role, output = "subject", "reference", "image"
    models = ("grounding_model", "sam2_model")
    description = "reference crop: the target (or salient subject) of an image on white, cropped to its box"

    def run(self, frames, target):
        from unison_agent.tools.classic import subject_crop

        made = Mask().setup(self.settings).run(frames[:1], target)
        return Made(subject_crop(frames[0], made.frames[0])[None], notes=made.notes)


ANNOTATORS: dict[str, type[Annotator]] = {
    cls.name: cls
    for cls in (
        Depth,
        Pose,
        Canny,
        Gray,
        Flow,
        Scribble,
        Mask,
        Salient,
        Outpaint,
        FrameRefFirst,
        FrameRefLast,
        Subject,
    )
}
"""Every annotator by name: the one list the CLI, the graph and generation read."""


def get_annotator(name: str, settings: Settings) -> Annotator:
    """An annotator by name, set up with ``settings``; a clear error naming the known ones otherwise."""
    if name not in ANNOTATORS:
        raise ValueError(f"unknown annotator {name!r}; use one of {', '.join(ANNOTATORS)}")
    return ANNOTATORS[name]().setup(settings)
