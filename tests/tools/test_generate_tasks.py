"""Every generation task end to end on the tiny pipeline: files, sizes, frame counts, sidecars, anchors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.fixtures.plans import make_plan
from unison_agent.media.files import read_image, read_video
from unison_agent.tools.generate import NO_PROJECTOR_NOTE, generate, prepare_inputs

# task, anchor, expected (width, height, frames)
CASES = [
    ("text_to_image", None, (64, 64, 1)),
    ("text_to_video", None, (64, 64, 9)),
    ("image_to_video", "first", (80, 64, 9)),
    ("image_to_video", "last", (80, 64, 9)),
    ("image_edit", None, (80, 64, 1)),
    ("video_edit", None, (80, 64, 9)),
    ("image_reference", None, (64, 64, 1)),
    ("video_reference", None, (64, 64, 9)),
    ("image_control", None, (80, 64, 1)),
    ("video_control", None, (80, 64, 9)),
]


@pytest.mark.parametrize("task,anchor,expected", CASES, ids=[f"{c[0]}-{c[1]}" if c[1] else c[0] for c in CASES])
def test_task_writes_output_and_sidecar(task, anchor, expected, s2_media, s2_settings, tmp_path):
    plan = make_plan(task, s2_media, **({"frame_anchor": anchor} if anchor else {}))
    steps: list[tuple[int, int]] = []
    res = generate(
        plan,
        s2_settings,
        cond_tokens=torch.randn(1, 4, 32),
        out_dir=tmp_path,
        seed=11,
        on_step=lambda i, n: steps.append((i, n)),
    )
    w, h, n = expected
    assert len(res.outputs) == 1 and len(res.sidecars) == 1
    out = res.outputs[0]
    assert out.exists() and out.name.startswith(f"{task}-") and f"-{res.seed}." in out.name
    if n == 1:
        assert out.suffix == ".png"
        assert read_image(out).shape == (h, w, 3)
    else:
        assert out.suffix == ".mp4"
        frames, fps = read_video(out)
        assert frames.shape == (n, h, w, 3)
        assert fps == pytest.approx(16)
    assert (res.width, res.height, res.num_frames) == (w, h, n)
    assert steps == [(1, 2), (2, 2)]
    side = json.loads(res.sidecars[0].read_text())
    assert side["seed"] == 11 and side["steps"] == 2
    assert side["guidance"] == 5.0 and side["shift"] == 5.0 and side["context_scale"] == 1.0
    assert side["plan"]["task"] == task and side["output"] == out.name
    assert side["models"]["vace"].endswith("vace") and side["projector_tokens"] == [1, 4, 32]
    assert side["num_frames"] == n and side["context_len"] == 2048
    assert {"prepare_s", "load_s", "encode_s", "denoise_s", "total_s", "per_step_s"} <= set(side["timings"])
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


@pytest.mark.parametrize("anchor", ["first", "last"])
def test_image_to_video_anchor_sits_at_the_right_end(anchor, s2_media, s2_settings):
    plan = make_plan("image_to_video", s2_media, frame_anchor=anchor)
    prepared = prepare_inputs(plan)
    given = 0 if anchor == "first" else -1
    other = -1 if anchor == "first" else 0
    assert prepared.mask.shape == (9, 64, 80)
    assert (prepared.mask[given] == 0).all()
    assert (np.delete(prepared.mask, given % 9, axis=0) == 255).all()
    assert np.array_equal(prepared.video[given], read_image(s2_media["image"]))
    assert (prepared.video[other] == 127).all()


def test_image_to_video_anchor_reaches_the_pipeline(s2_media, s2_settings, vace_calls, tmp_path):
    """The mask and video diffusers preprocesses keep the given frame at the chosen end, exact grey elsewhere."""
    from diffusers.video_processor import VideoProcessor

    image = VideoProcessor(vae_scale_factor=8).preprocess_video(read_image(s2_media["image"])[None, None] / 255.0)
    for anchor in ("first", "last"):
        generate(
            make_plan("image_to_video", s2_media, frame_anchor=anchor),
            s2_settings,
            cond_tokens=None,
            out_dir=tmp_path,
            seed=1,
        )
    first, last = vace_calls
    for call, at in ((first, 0), (last, -1)):
        mask, video = call["mask_tensor"], call["video_tensor"]
        assert mask.shape[2] == 9 and video.shape == (1, 3, 9, 64, 80)
        assert mask[:, :, at].max() == 0 and np.delete(mask.numpy(), at % 9, axis=2).min() == 1
        assert np.delete(video.numpy(), at % 9, axis=2).max() == 0 == np.delete(video.numpy(), at % 9, axis=2).min()
        assert float((video[:, :, at] - image[:, :, 0]).abs().max()) < 1e-6


def test_without_projector_generates_and_says_so(s2_media, s2_settings, tmp_path):
    res = generate(make_plan("text_to_image", s2_media), s2_settings, cond_tokens=None, out_dir=tmp_path, seed=2)
    assert res.outputs[0].exists()
    assert NO_PROJECTOR_NOTE in res.notes
    side = json.loads(res.sidecars[0].read_text())
    assert side["projector_tokens"] is None and side["models"]["projector"] is None
    assert NO_PROJECTOR_NOTE in side["notes"]


def test_same_seed_same_output_and_random_seed_recorded(s2_media, s2_settings, tmp_path):
    plan = make_plan("text_to_video", s2_media, num_frames=5)
    tokens = torch.randn(1, 4, 32)
    a = generate(plan, s2_settings, cond_tokens=tokens, out_dir=tmp_path / "a", seed=123)
    b = generate(plan, s2_settings, cond_tokens=tokens, out_dir=tmp_path / "b", seed=123)
    c = generate(plan, s2_settings, cond_tokens=tokens, out_dir=tmp_path / "c", seed=124)
    fa, fb, fc = (read_video(r.outputs[0])[0] for r in (a, b, c))
    assert np.array_equal(fa, fb)
    assert not np.array_equal(fa, fc)
    r = generate(make_plan("text_to_image", s2_media), s2_settings, cond_tokens=None, out_dir=tmp_path / "d")
    assert isinstance(r.seed, int) and 0 <= r.seed < 2**31
    assert json.loads(r.sidecars[0].read_text())["seed"] == r.seed
    assert f"-{r.seed}.png" in r.outputs[0].name


def test_two_runs_in_one_second_get_distinct_names(s2_media, s2_settings, tmp_path):
    plan = make_plan("text_to_image", s2_media)
    a = generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=5)
    b = generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=5)
    assert a.outputs[0] != b.outputs[0] and a.sidecars[0] != b.sidecars[0]
    assert a.outputs[0].exists() and b.outputs[0].exists()
