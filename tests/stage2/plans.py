"""Plans for the nine generation tasks over the stage-two media fixture (tiny sizes)."""

from __future__ import annotations

from pathlib import Path

from unison_agent.plan import Plan


def make_plan(task: str, media: dict[str, Path], **changes) -> Plan:
    """A valid plan for ``task`` using the fixture files; ``changes`` override fields."""
    img = lambda key, role: {"path": str(media[key]), "kind": "image", "role": role}  # noqa: E731
    vid = lambda key, role: {"path": str(media[key]), "kind": "video", "role": role}  # noqa: E731
    video = {"num_frames": 9, "fps": 16}
    image = {"num_frames": 1, "fps": None}
    table = {
        "text_to_image": dict(prompt="a red bird on a branch", width=64, height=64, **image),
        "text_to_video": dict(prompt="a red bird flies over the sea", width=64, height=64, **video),
        "image_to_video": dict(
            prompt="make <IMGPAD> come alive", width=80, height=64, frame_anchor="first",
            inputs=[img("image", "frame")], **video,
        ),
        "image_edit": dict(
            prompt="replace the masked part of <IMGPAD> with a cat, mask <IMGPAD>", width=80, height=64,
            inputs=[img("image", "source"), img("mask", "mask")], **image,
        ),
        "video_edit": dict(
            prompt="turn the masked region of <VIDPAD> into a dog, mask <IMGPAD>", width=80, height=64,
            inputs=[vid("video", "source"), img("mask", "mask")], **video,
        ),
        "image_reference": dict(
            prompt="the man in <IMGPAD> walks on the beach", width=64, height=64,
            inputs=[img("reference", "reference")], **image,
        ),
        "video_reference": dict(
            prompt="the man in <IMGPAD> walks on the beach", width=64, height=64,
            inputs=[img("reference", "reference")], **video,
        ),
        "image_control": dict(
            prompt="a red car following the depth map <IMGPAD>", width=80, height=64, control="ready",
            inputs=[img("depth", "control")], **image,
        ),
        "video_control": dict(
            prompt="a woman dancing with the pose in <VIDPAD>", width=80, height=64, control="ready",
            inputs=[vid("pose", "control")], **video,
        ),
    }
    data = dict(table[task])
    data.update(changes)
    return Plan(task=task, **data)
