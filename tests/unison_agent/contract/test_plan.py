"""The plan contract: validation and its errors."""

import pytest

from unison_agent.contract.errors import PlanError
from unison_agent.contract.plan import PLANNER_TASKS, InputRef, Plan, Task, is_video_frame_count, snap_frames

IMG = {"path": "a.png", "kind": "image"}
VID = {"path": "v.mp4", "kind": "video"}


def gen(task, **kw):
    base = {"task": task, "prompt": "p", "width": 832, "height": 480}
    base.update(kw)
    return Plan(**base)


def test_twelve_tasks_with_outputs():
    assert len(PLANNER_TASKS) == 12 and len(Task) == 13 and Task.video_extend not in PLANNER_TASKS
    assert Task.video_extend.output == "video"
    assert {t.output for t in Task} == {"text", "image", "video"}
    assert sum(t.output == "text" for t in Task) == 3
    assert sum(t.output == "image" for t in Task) == 4
    assert sum(t.output == "video" for t in PLANNER_TASKS) == 5


def test_valid_plans_and_contract_json():
    p = gen("text_to_video", num_frames=81, fps=16)
    data = p.to_json()
    for key in ("task", "prompt", "inputs", "width", "height", "num_frames", "fps", "frame_anchor", "control"):
        assert key in data
    assert data["task"] == "text_to_video" and data["frame_anchor"] is None
    assert Plan.from_json(data) == p
    assert p.model_dump(mode="json") == data


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"task": "text_to_image", "width": 830, "num_frames": 1}, "width"),
        ({"task": "text_to_image", "height": 4096, "num_frames": 1}, "height"),
        ({"task": "text_to_image", "num_frames": 5}, "num_frames"),
        ({"task": "text_to_video", "num_frames": 80, "fps": 16}, "num_frames"),
        ({"task": "text_to_video", "num_frames": 1, "fps": 16}, "num_frames"),
        ({"task": "text_to_video", "num_frames": 81}, "fps"),
        ({"task": "text_to_video", "num_frames": 81, "fps": 16, "frame_anchor": "first"}, "frame_anchor"),
        ({"task": "text_to_image", "num_frames": 1, "control": "depth"}, "control"),
        ({"task": "image_to_video", "num_frames": 81, "fps": 16, "inputs": [{**IMG, "role": "frame"}]}, "frame_anchor"),
        (
            {
                "task": "image_to_video",
                "num_frames": 81,
                "fps": 16,
                "frame_anchor": "middle",
                "inputs": [{**IMG, "role": "frame"}],
            },
            "frame_anchor",
        ),
        ({"task": "image_control", "num_frames": 1, "inputs": [{**IMG, "role": "control"}]}, "control"),
        (
            {"task": "image_control", "num_frames": 1, "control": "sobel", "inputs": [{**IMG, "role": "control"}]},
            "control",
        ),
    ],
)
def test_invalid_fields_name_the_field(kwargs, field):
    with pytest.raises(PlanError) as info:
        gen(**kwargs)
    assert field in str(info.value)


def test_errors_list_allowed_values():
    with pytest.raises(PlanError, match="multiple of 16 between 64 and 2048"):
        gen("text_to_image", width=100, num_frames=1)
    with pytest.raises(PlanError, match="4k\\+1"):
        gen("text_to_video", num_frames=82, fps=16)
    with pytest.raises(PlanError, match="pose, depth, canny, gray, flow, scribble, ready"):
        gen("image_control", num_frames=1, inputs=[{**IMG, "role": "control"}])
    with pytest.raises(PlanError, match="text_to_image"):
        Plan(task="make_a_picture", prompt="x")


def test_roles_must_fit_the_task():
    with pytest.raises(PlanError, match="needs a source"):
        gen("image_edit", num_frames=1, inputs=[{**IMG, "role": "mask"}])
    with pytest.raises(PlanError, match="needs a frame"):
        gen("image_to_video", num_frames=81, fps=16, frame_anchor="first")
    with pytest.raises(PlanError, match="role"):
        gen("text_to_image", num_frames=1, inputs=[{**IMG, "role": "source"}])
    with pytest.raises(PlanError, match="must be video"):
        gen("video_edit", num_frames=81, fps=16, inputs=[{**IMG, "role": "source"}])
    with pytest.raises(PlanError, match="at most 1 source"):
        gen(
            "image_edit",
            num_frames=1,
            inputs=[{**IMG, "role": "source"}, {"path": "b.png", "kind": "image", "role": "source"}],
        )
    with pytest.raises(PlanError, match="needs at least one video"):
        Plan(task="video_understanding", prompt="what?", inputs=[{**IMG, "role": "context"}])
    with pytest.raises(PlanError, match="must be null"):
        Plan(task="text_understanding", prompt="hi", width=832)
    ok = gen("video_edit", num_frames=81, fps=16, inputs=[{**VID, "role": "source"}, {**IMG, "role": "mask"}])
    assert ok.first("mask").path == "a.png"


def test_frame_count_helpers():
    assert [is_video_frame_count(n) for n in (1, 5, 80, 81)] == [False, True, False, True]
    assert snap_frames(48) == 49 and snap_frames(50) == 49 and snap_frames(51) == 49 and snap_frames(52) == 53
    assert snap_frames(1) == 5 and snap_frames(33) == 33
    assert snap_frames(10_000) == 9601  # a plan's ceiling; requests are held to max_video_seconds (60 s)


def test_with_changes_validates():
    p = gen("text_to_image", num_frames=1)
    assert p.with_changes(width=1280).width == 1280
    with pytest.raises(PlanError):
        p.with_changes(width=1281)
    assert InputRef(path="a.png", kind="image", role="source").role == "source"
