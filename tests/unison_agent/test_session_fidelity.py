"""What reaches ``diffusers.WanVACEPipeline.__call__`` through the public path (Session, demo models).

Each test wraps the pipeline's ``__call__`` (the ``vace_calls`` fixture) and looks at the video and mask as
diffusers itself preprocesses them: [-1, 1] video, [0, 1] mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import natural_clip, pose_clip
from unison_agent.media import read_image, read_mask, read_video, write_image, write_video
from unison_agent.settings import Settings


@pytest.fixture(scope="module")
def session(tmp_path_factory, tiny_root):
    from unison_agent.session import Session

    home = tmp_path_factory.mktemp("fidelity_home")
    settings = Settings.resolve({"home": str(home), "demo": True, "demo_dir": str(tiny_root)}, env={})
    from unison_agent.demo import demo_settings

    s = Session(demo_settings(settings), thread="fidelity")  # the faces apply demo mode; Session takes settings as given
    yield s
    s.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fidelity_media")
    img = natural_clip(1, 64, 64, seed=3)[0]
    img[16:48, 16:48] = (200, 50, 50)
    write_image(d / "photo.png", img)
    mask = np.zeros((64, 64), np.uint8)
    mask[8:40, 24:56] = 255
    write_image(d / "mask.png", mask)
    write_video(d / "clip.mp4", natural_clip(9, 64, 64), fps=16)
    write_video(d / "long.mp4", natural_clip(48, 64, 64, seed=5), fps=16)  # 3 s
    write_video(d / "dance.mp4", pose_clip(9, 64, 64), fps=16)
    return d


def _normalised(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) / 127.5 - 1.0


def _check_grey_under_mask(call, source: np.ndarray) -> np.ndarray:
    """Under the mask the video is exactly 0 (grey); elsewhere it is the source. Returns the boolean mask."""
    video = call["video_tensor"][0].permute(1, 2, 3, 0).numpy()  # (T, H, W, 3) in [-1, 1]
    hole = call["mask_tensor"][0, 0].numpy() > 0.5  # (T, H, W)
    assert hole.any() and (~hole).any()
    assert np.abs(video[hole]).max() == 0.0, "every pixel to regenerate reaches the pipeline as neutral grey"
    np.testing.assert_allclose(video[~hole], _normalised(source)[~hole], atol=1e-6)
    return hole


def test_image_edit_with_a_given_mask_greys_the_area(session, files, vace_calls):
    r = session.send(f"make the square blue in ###{files / 'photo.png'}### using the mask ###{files / 'mask.png'}###")
    assert r.ok and r.task == "image_edit", r.errors
    (call,) = vace_calls
    hole = _check_grey_under_mask(call, read_image(files / "photo.png")[None])
    given = read_mask(files / "mask.png") > 127
    assert np.array_equal(hole[0], given)


def test_video_edit_with_an_annotator_mask_greys_the_area(session, files, vace_calls):
    r = session.send(f"make the square red in ###{files / 'clip.mp4'}###")
    assert r.ok and r.task == "video_edit", r.errors
    assert any("mask" in n for n in r.results[0]["notes"])
    (call,) = vace_calls
    assert call["num_frames"] == 9
    _check_grey_under_mask(call, read_video(files / "clip.mp4")[0])


def test_a_pose_clip_is_used_as_given_and_a_natural_clip_is_annotated(session, files, vace_calls):
    r = session.send(f"make a video of a robot following the pose of ###{files / 'dance.mp4'}###")
    assert r.ok and r.task == "video_control", r.errors
    assert any("is a pose map" in n and "used as given" in n for n in r.results[0]["notes"]), r.results[0]["notes"]
    video = vace_calls[0]["video_tensor"][0].permute(1, 2, 3, 0).numpy()
    np.testing.assert_allclose(video, _normalised(read_video(files / "dance.mp4")[0]), atol=1e-6)
    assert "mask" not in vace_calls[0]  # control: nothing is masked, the whole clip is generated

    r = session.send(f"make a video of a robot following the pose of ###{files / 'clip.mp4'}###")
    assert r.ok, r.errors
    video = vace_calls[1]["video_tensor"][0].permute(1, 2, 3, 0).numpy()
    assert np.abs(video - _normalised(read_video(files / "clip.mp4")[0])).mean() > 0.1, "the pose map, not the clip"


def test_a_clip_longer_than_one_generation_is_said_in_the_answer_and_can_be_used_whole(session, files, vace_calls):
    r = session.send(f"make the square red in ###{files / 'long.mp4'}###", overrides={"num_frames": 17})
    assert r.ok, r.errors
    assert "covers only its first 1.1 s" in r.answer and "--frames 45" in r.answer
    assert vace_calls[0]["num_frames"] == 17
    r = session.send(f"make the square red in ###{files / 'long.mp4'}###", overrides={"num_frames": 45})
    assert r.ok, r.errors
    assert "covers only" not in r.answer and vace_calls[1]["num_frames"] == 45
    # real speed: frame t of the output window is frame t of the 16 fps source
    _check_grey_under_mask(vace_calls[1], read_video(files / "long.mp4")[0][:45])
