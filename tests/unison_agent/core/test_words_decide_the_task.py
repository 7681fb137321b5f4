"""The request's words decide the task; the pixels decide only how a control input is used.

Animation wordings make image-to-video, edit wordings make edits, whatever the picture looks like (flat colours, a
gradient, a few blobs, even a real control map); only wordings that ask for control make a control task, and then
the pixels decide "ready" (a skeleton, depth, edges: used as given) or an annotator (a picture: depth / pose /
canny, as the words ask). Checked through ``Session.plan`` and ``cli.py plan --json``, as a person gets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import pose_clip
from unison_agent.media.files import write_image

ROOT = Path(__file__).resolve().parents[3]
H, W = 96, 128


def _pictures() -> dict[str, np.ndarray]:
    import cv2

    yy, xx = np.mgrid[0:H, 0:W]
    flat = np.zeros((H, W, 3), np.uint8)
    flat[:] = (40, 160, 220)
    flat[H // 2 :] = (250, 200, 30)  # a sky and a sand, two flat colours
    blobs = np.full((H, W, 3), (90, 200, 120), np.uint8)
    cv2.circle(blobs, (40, 40), 25, (230, 50, 50), -1)
    cv2.circle(blobs, (100, 60), 22, (250, 230, 40), -1)
    gradient = np.stack([xx * 255 / W, 255 - xx * 255 / W, yy * 255 / H], -1).astype(np.uint8)
    depth = np.repeat((np.hypot(xx - W / 2, yy - H) / np.hypot(W / 2, H) * 255).astype(np.uint8)[..., None], 3, -1)
    edges = np.zeros((H, W, 3), np.uint8)
    cv2.rectangle(edges, (20, 20), (90, 70), (255, 255, 255), 1)
    cv2.circle(edges, (64, 48), 18, (255, 255, 255), 1)
    cv2.line(edges, (0, 90), (127, 60), (255, 255, 255), 1)
    return {
        "flat": flat,
        "blobs": blobs,
        "gradient": gradient,
        "pose": pose_clip(1, H, W)[0],
        "depth": depth,
        "edges": edges,
    }


SMOOTH = ("flat", "blobs", "gradient")
MAPS = ("pose", "depth", "edges")

ANIMATE = [
    "animate ###X### for 1 second",
    "bring ###X### to life, two seconds long",
    "make ###X### move gently in the wind",
    "turn ###X### into a short 3-second clip",
    "could you animate this picture ###X###?",
    "###X### should come alive: waves rolling in",
    "start a video from ###X### where the camera pans left",
]
EDIT = [
    "make the sky in ###X### purple",
    "remove the yellow circle from ###X###",
    "replace the background of ###X### with a beach",
    "change the red blob in ###X### to blue",
]
CONTROL = [  # (prompt, task, the annotator a picture gets)
    ("paint a forest following the structure of ###X###", "image_control", "depth"),
    ("a cyberpunk street with the same layout as ###X###", "image_control", "depth"),
    ("create a video of a dancer that follows the pose in ###X###", "video_control", "pose"),
    ("use the edges of ###X### to draw a castle", "image_control", "canny"),
    ("a 2-second video of a crowd in the same motion as ###X###", "video_control", "depth"),
]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("words_pictures")
    return {name: Path(write_image(d / f"{name}.png", frame)) for name, frame in _pictures().items()}


def _plan(session, prompt: str, path: Path):
    (step,) = session.plan(prompt.replace("X", str(path)))
    return step


@pytest.mark.parametrize("picture", [*SMOOTH, *MAPS])
@pytest.mark.parametrize("prompt", ANIMATE)
def test_animation_wordings_animate(make_session, pictures, picture, prompt):
    step = _plan(make_session(), prompt, pictures[picture])
    assert step.plan.task.value == "image_to_video", (prompt, picture, step.notes)
    assert step.plan.control is None and step.jobs == []
    assert [i.role for i in step.plan.inputs] == ["frame"]


@pytest.mark.parametrize("picture", [*SMOOTH, *MAPS])
@pytest.mark.parametrize("prompt", EDIT)
def test_edit_wordings_edit(make_session, pictures, picture, prompt):
    step = _plan(make_session(), prompt, pictures[picture])
    assert step.plan.task.value == "image_edit" and step.plan.control is None, (prompt, picture)
    assert [j.purpose for j in step.jobs] == ["mask"]


@pytest.mark.parametrize("picture", [*SMOOTH, *MAPS])
@pytest.mark.parametrize("prompt, task, annotator", CONTROL)
def test_control_wordings_control_and_the_pixels_decide_how(make_session, pictures, picture, prompt, task, annotator):
    step = _plan(make_session(), prompt, pictures[picture])
    assert step.plan.task.value == task, (prompt, picture)
    assert [i.role for i in step.plan.inputs] == ["control"]
    if picture in MAPS:  # already a map: used as given, no annotator
        assert step.plan.control == "ready" and step.jobs == [], (prompt, picture, step.notes)
        assert any("used as given" in n for n in step.notes)
    elif picture in ("flat", "blobs"):  # a picture: the annotator the words ask for (depth when none)
        assert step.plan.control == annotator and [j.kind for j in step.jobs] == [annotator], (prompt, picture)
        assert any("natural media" in n for n in step.notes)


def test_cli_plan_json_animates_a_flat_picture_and_follows_a_skeleton(pictures, tmp_path):
    """The reported case, through the command a person types: words first, pixels only for the control input."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UNISON_HOME": str(tmp_path / "home")}

    def plan(prompt: str) -> dict:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "plan", "--planner", "rules", "--json", prompt],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    animated = plan(f"animate ###{pictures['flat']}### for 1 second")
    assert animated["task"] == "image_to_video" and animated["control"] is None and animated["num_frames"] == 17
    followed = plan(f"make a video of a knight following the pose in ###{pictures['pose']}###")
    assert followed["task"] == "video_control" and followed["control"] == "ready"
    followed = plan(f"make a video of a knight following the pose in ###{pictures['blobs']}###")
    assert followed["task"] == "video_control" and followed["control"] == "pose"
