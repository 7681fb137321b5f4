"""What reaches ``diffusers.WanVACEPipeline.__call__`` through the public path (Session, demo models).

Each test wraps the pipeline's ``__call__`` (the ``vace_calls`` fixture) and looks at the video and mask as
diffusers itself preprocesses them: [-1, 1] video, [0, 1] mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import natural_clip, pose_clip
from unison_agent.contract.settings import Settings
from unison_agent.media.files import read_image, read_mask, read_video, write_image, write_video


@pytest.fixture(scope="module")
def session(tmp_path_factory, tiny_root):
    from unison_agent.core.session import Session

    home = tmp_path_factory.mktemp("fidelity_home")
    settings = Settings.resolve({"home": str(home), "demo": True, "demo_dir": str(tiny_root)}, env={})
    from unison_agent.core.demo import demo_settings

    s = Session(
        demo_settings(settings), thread="fidelity"
    )  # the faces apply demo mode; Session takes settings as given
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


def test_a_clip_is_used_whole_unless_a_shorter_length_is_asked_for_which_the_answer_says(session, files, vace_calls):
    r = session.send(f"make the square red in ###{files / 'long.mp4'}###", overrides={"num_frames": 17})
    assert r.ok, r.errors
    assert "covers only its first 1.1 s" in r.answer and "--frames 45" in r.answer
    assert vace_calls[0]["num_frames"] == 17
    r = session.send(f"make the square red in ###{files / 'long.mp4'}###", overrides={"num_frames": 45})
    assert r.ok, r.errors
    assert "covers only" not in r.answer and vace_calls[1]["num_frames"] == 45
    # real speed: frame t of the output window is frame t of the 16 fps source
    _check_grey_under_mask(vace_calls[1], read_video(files / "long.mp4")[0][:45])
    r = session.send(f"make the square red in ###{files / 'long.mp4'}###")  # no length said: the whole clip
    assert r.ok and "covers only" not in r.answer and vace_calls[2]["num_frames"] == 45, r.answer


def test_a_long_prompt_is_encoded_as_trained_512_umt5_tokens_then_the_projector_rows(session, vace_calls):
    """umT5 reads the first 512 tokens (Wan's text_len); the 4 projector rows follow at 512..515; zeros to 2048.
    The answer's notes say the prompt was cut."""
    import torch

    from unison_agent.models.projector import projector_tokens
    from unison_agent.models.vace_loader import load_vace

    r = session.send("make a picture of " + "a red bird on the sea with a blue sky and a green cat " * 60)
    assert r.ok and r.task == "text_to_image", r.errors
    assert any("Wan's text encoder reads the first 512" in n for n in r.results[0]["notes"]), r.results[0]["notes"]
    (call,) = vace_calls
    embeds = call["prompt_embeds"].float()
    assert tuple(embeds.shape)[:2] == (1, 2048)
    pipe, prompt = load_vace(session.settings), r.plan["prompt"]
    ids = pipe.tokenizer([prompt], max_length=512, truncation=True, add_special_tokens=True, return_tensors="pt")
    assert ids.input_ids.shape[1] == 512 and len(pipe.tokenizer([prompt]).input_ids[0]) > 512
    with torch.no_grad():
        umt5 = pipe.text_encoder(ids.input_ids, ids.attention_mask).last_hidden_state.float()
    torch.testing.assert_close(embeds[:, :512], umt5, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(embeds[:, 512:516], projector_tokens(session.settings, prompt).float())
    assert embeds[:, 516:].abs().max() == 0


def test_a_pure_red_mask_regenerates_the_red_area_as_vace_counts_a_mask(session, files, vace_calls, tmp_path):
    """VACE's inpainting annotator marks every pixel that is not black: pure red (grey 76) counts. The notes say
    that such pixels counted, since a "grey >= 128" rule would have found an empty mask."""
    red = np.zeros((64, 64, 3), np.uint8)
    red[8:40, 24:56] = (255, 0, 0)
    write_image(tmp_path / "red_mask.png", red)
    mask = tmp_path / "red_mask.png"
    r = session.send(f"make the square blue in ###{files / 'photo.png'}### using the mask ###{mask}###")
    assert r.ok and r.task == "image_edit", r.errors
    assert any("red_mask.png: 25.0% of its pixels are dark but not black" in n for n in r.results[0]["notes"])
    (call,) = vace_calls
    hole = _check_grey_under_mask(call, read_image(files / "photo.png")[None])
    assert np.array_equal(hole[0], red.any(axis=-1))


def test_a_black_mask_is_an_error_that_says_it_marks_nothing(session, files, vace_calls, tmp_path):
    write_image(tmp_path / "black.png", np.zeros((64, 64, 3), np.uint8))
    mask = tmp_path / "black.png"
    r = session.send(f"make the square blue in ###{files / 'photo.png'}### using the mask ###{mask}###")
    assert not r.ok and not vace_calls
    assert "the mask black.png marks nothing: every pixel is black" in r.answer, r.answer


@pytest.fixture
def processor_calls(monkeypatch):
    """Every call that reaches the Qwen2.5-VL processor: its keyword arguments and the grids it made."""
    from transformers import Qwen2_5_VLProcessor

    calls: list[dict] = []
    original = Qwen2_5_VLProcessor.__call__

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        own = dict(self.image_processor.size)
        calls.append({**kwargs, "own_size": own, "image_grid_thw": out.get("image_grid_thw")})
        return out

    monkeypatch.setattr(Qwen2_5_VLProcessor, "__call__", spy)
    return calls


@pytest.mark.parametrize("cap", [None, 28 * 28 * 4], ids=["processor-own", "lowered-by-settings"])
def test_understanding_sees_images_at_the_processors_own_cap_unless_settings_lower_it(
    files, processor_calls, tmp_path, tiny_root, cap
):
    """Images reach the processor whole, with its own pixel cap (the published Qwen2.5-VL processor's 12,845,056;
    the tiny kit's is smaller), unless ``image_max_pixels`` lowers it."""
    from unison_agent.core.session import Session

    big = np.repeat(np.repeat(read_image(files / "photo.png"), 7, axis=0), 7, axis=1)  # 448x448: 200,704 pixels
    write_image(tmp_path / "big.png", big)
    flags = {"home": str(tmp_path / "home"), "demo": True, "demo_dir": str(tiny_root), "image_max_pixels": cap}
    from unison_agent.core.demo import demo_settings

    s = Session(demo_settings(Settings.resolve(flags, env={})), thread="pixels")
    try:
        r = s.send(f"what is in ###{tmp_path / 'big.png'}###?")
    finally:
        s.close()
    assert r.ok and r.task == "image_understanding", r.errors
    (call,) = processor_calls
    own = int(call["own_size"]["longest_edge"])
    want = own if cap is None else min(own, cap)
    assert call["images_kwargs"]["size"]["longest_edge"] == want
    assert [np.asarray(i).shape for i in call["images"]] == [big.shape]
    assert int(call["image_grid_thw"].prod()) * 14 * 14 <= want
