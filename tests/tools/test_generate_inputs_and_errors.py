"""Input preparation (sizes, frames, masks, references), annotator wiring, and clear errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.fixtures.plans import make_plan
from unison_agent.contract.errors import MediaError, PlanError, UnisonError
from unison_agent.contract.plan import Plan
from unison_agent.media.files import read_image, read_video
from unison_agent.models.vace_inputs import (
    check_budget,
    cover_resize,
    fit_on_canvas,
    fit_size,
    frame_indices,
    prepare_mask,
)
from unison_agent.tools.generate import generate, prepare_inputs

# ---------------------------------------------------------------------------------------------- pure functions


def test_fit_size_keeps_aspect_at_requested_area_and_never_upscales():
    assert fit_size(1920, 1080, 832, 480)[:2] == (832, 480)
    assert fit_size(1080, 1920, 832, 480)[:2] == (464, 832)  # portrait source keeps portrait at ~the same area
    assert fit_size(320, 240, 832, 480)[:2] == (320, 240)  # capped by the source's own area
    w, h, notes = fit_size(8, 8, 832, 480)
    assert (w, h) == (64, 64) and "outside the 64..2048" in notes[0]
    for sw, sh in [(1000, 37), (37, 1000), (4000, 3000), (1080, 1920), (1920, 1080), (720, 1280), (333, 777)]:
        w, h, _ = fit_size(sw, sh, 832, 480)
        assert w % 16 == 0 and h % 16 == 0 and 64 <= w <= 2048 and 64 <= h <= 2048
        assert fit_size(sw, sh, w, h)[:2] == (w, h), "a fitted size is a fixed point (plan == run)"


def test_cover_resize_crops_centre_and_fit_on_canvas_pads_white():
    frames = np.zeros((2, 40, 100, 3), np.uint8)
    frames[:, :, 40:60] = 200  # a bright centre column
    out = cover_resize(frames, 32, 32)
    assert out.shape == (2, 32, 32, 3)
    assert out[:, :, 16].min() > 150  # the centre survives the crop
    canvas = fit_on_canvas(np.zeros((20, 40, 3), np.uint8), 64, 64)
    assert canvas.shape == (64, 64, 3)
    assert (canvas[:16] == 255).all() and (canvas[-16:] == 255).all() and (canvas[32, :] == 0).all()


def test_frame_indices_sample_at_16fps_and_snap_to_4k_plus_1():
    idx, notes = frame_indices(200, 16, 81, 16)
    assert len(idx) == 81 and list(idx[:3]) == [0, 1, 2] and not notes
    idx, notes = frame_indices(60, 30, 81, 16)  # 2 s at 30 fps -> 32 frames at 16 fps -> 29 (4k+1)
    assert len(idx) == 29 and idx[-1] < 60 and "instead of 81" in notes[0]
    assert idx[1] in (1, 2)  # 30 fps sampled at 16 fps skips about every other frame
    idx, notes = frame_indices(3, 16, 9, 16)
    assert len(idx) == 5 and "stretched" in notes[0]


def test_budget_refuses_absurd_sizes():
    check_budget(832, 480, 81)
    with pytest.raises(UnisonError, match="transformer tokens"):
        check_budget(2048, 2048, 321)


def test_mask_of_another_size_is_resized_to_the_source():
    mask = np.zeros((32, 40), np.uint8)
    mask[8:24, 10:30] = 255
    out, notes = prepare_mask(mask, (1, 64, 80), np.array([0]), 80, 64)
    assert out.shape == (1, 64, 80) and set(np.unique(out)) == {0, 255}
    assert notes == ["mask resized from 40x32 to 80x64 (the source's size)"]
    assert out[0, 32, 40] == 255 and out[0, 0, 0] == 0


# ---------------------------------------------------------------------------------------------- through generate


def test_edit_with_a_mask_of_another_size_is_corrected_and_noted(s2_media, s2_settings, tmp_path):
    plan = make_plan(
        "image_edit",
        s2_media,
        inputs=[
            {"path": str(s2_media["image"]), "kind": "image", "role": "source"},
            {"path": str(s2_media["small_mask"]), "kind": "image", "role": "mask"},
        ],
    )
    res = generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1)
    assert "mask resized from 40x32 to 80x64 (the source's size)" in res.notes
    assert read_image(res.outputs[0]).shape == (64, 80, 3)
    assert "mask resized from 40x32 to 80x64 (the source's size)" in json.loads(res.sidecars[0].read_text())["notes"]


def test_video_edit_mask_image_applies_to_every_frame(s2_media, s2_settings):
    prepared = prepare_inputs(make_plan("video_edit", s2_media))
    assert prepared.video.shape == (9, 64, 80, 3) and prepared.mask.shape == (9, 64, 80)
    assert all(np.array_equal(prepared.mask[0], m) for m in prepared.mask)
    assert prepared.mask[0, 32, 40] == 255 and prepared.mask[0, 0, 0] == 0


def test_unreadable_video_is_a_media_error(s2_media, s2_settings, tmp_path):
    plan = make_plan(
        "video_edit",
        s2_media,
        inputs=[
            {"path": str(s2_media["broken"]), "kind": "video", "role": "source"},
            {"path": str(s2_media["mask"]), "kind": "image", "role": "mask"},
        ],
    )
    with pytest.raises(MediaError, match="broken.mp4: not a readable video"):
        generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1)
    assert not list(tmp_path.iterdir())


def test_tiny_source_is_upscaled_to_the_minimum_and_noted(s2_media, s2_settings, tmp_path):
    plan = make_plan(
        "image_to_video", s2_media, inputs=[{"path": str(s2_media["tiny"]), "kind": "image", "role": "frame"}]
    )
    res = generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1)
    assert any("8x8 source gives 16x16" in n for n in res.notes)
    assert read_video(res.outputs[0])[0].shape == (9, 64, 64, 3)


def test_absurd_size_is_refused_before_loading_anything(s2_media, s2_settings, tmp_path):
    plan = make_plan("text_to_video", s2_media, width=2048, height=2048, num_frames=321)
    with pytest.raises(UnisonError, match="transformer tokens"):
        generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1)


def test_understanding_plan_is_refused(s2_settings, tmp_path):
    plan = Plan(task="text_understanding", prompt="what is a cat?")
    with pytest.raises(PlanError, match="understanding task"):
        generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path)


def test_frames_override_replaces_files(s2_media, s2_settings, tmp_path):
    plan = make_plan("video_control", s2_media)
    pose = np.zeros((13, 48, 96, 3), np.uint8)
    pose[:, 10:40, 40:50] = 255
    prepared = prepare_inputs(plan, frames={"control": pose, "fps": 16})
    assert prepared.video.shape[0] == 9 and prepared.num_frames == 9
    assert (prepared.width, prepared.height) == (96, 64)  # 96x48 (its own area) with the height raised to 64
    assert any("96x48" in n for n in prepared.notes)


def test_offload_is_ignored_on_cpu_with_a_note(s2_media, s2_settings, tmp_path):
    res = generate(
        make_plan("text_to_image", s2_media),
        s2_settings.replace(offload="model", vae_tiling=True),
        cond_tokens=None,
        out_dir=tmp_path,
        seed=1,
    )
    assert any("offload=model ignored on the cpu device" in n for n in res.notes)
    side = json.loads(res.sidecars[0].read_text())
    assert side["offload"] == "none" and side["vae_tiling"] is True


# ---------------------------------------------------------------------------------------------- annotators


def test_generation_never_runs_an_annotator_and_asks_for_prepared_maps(s2_media, s2_settings, tmp_path, monkeypatch):
    """Masks and control maps come from the graph's annotate step (``files``); generation refuses without them."""
    import unison_agent.tools.annotate as annotate

    for name in ("control_frames", "edit_mask", "annotate_file"):
        monkeypatch.setattr(annotate, name, lambda *a, **k: pytest.fail("generation ran an annotator"))
    plan = make_plan(
        "video_control",
        s2_media,
        control="pose",
        inputs=[{"path": str(s2_media["video"]), "kind": "video", "role": "control"}],
    )
    with pytest.raises(PlanError, match="not a control map yet.*unison annotate pose"):
        generate(plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1)
    res = generate(
        plan, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1, files={"control": str(s2_media["pose"])}
    )
    assert any("pose map pose.mp4" in n for n in res.notes)
    assert read_video(res.outputs[0])[0].shape == (9, 64, 80, 3)
    edit = make_plan(
        "video_edit",
        s2_media,
        target="bird",
        inputs=[{"path": str(s2_media["video"]), "kind": "video", "role": "source"}],
    )
    with pytest.raises(PlanError, match="needs an edit mask"):
        generate(edit, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1)
    res = generate(edit, s2_settings, cond_tokens=None, out_dir=tmp_path, seed=1, files={"mask": str(s2_media["mask"])})
    assert read_video(res.outputs[0])[0].shape == (9, 64, 80, 3)
