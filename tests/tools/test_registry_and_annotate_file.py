"""annotate_file: files in, PNG/MP4 out (atomically), companions, and clear errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unison_agent.contract.errors import MediaError, WeightsError
from unison_agent.media.files import list_outputs, read_image, read_mask, read_video
from unison_agent.tools.annotate import ANNOTATORS, annotate_file


def test_annotator_names():
    assert set(ANNOTATORS) == {
        "depth",
        "pose",
        "canny",
        "gray",
        "flow",
        "scribble",
        "mask",
        "salient",
        "outpaint",
        "frameref-first",
        "frameref-last",
        "subject",
    }


@pytest.mark.parametrize("kind", ["depth", "pose", "canny", "scribble"])
def test_image_in_png_out(ann_settings, ann_media, tmp_path, kind):
    out = annotate_file(kind, ann_media / "scene.png", tmp_path / f"{kind}.png", ann_settings).path
    assert out == tmp_path / f"{kind}.png" and out.is_file()
    assert read_image(out).shape == (64, 96, 3)
    # the output and its sidecar, no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kind}.json", out.name]


@pytest.mark.parametrize("kind", ["depth", "gray"])
def test_video_in_mp4_out_same_frame_count(ann_settings, ann_media, tmp_path, kind):
    out = annotate_file(kind, ann_media / "clip.mp4", tmp_path / "control.mp4", ann_settings).path
    frames, fps = read_video(out)
    assert frames.shape == (4, 64, 64, 3) and fps == 16


def test_missing_suffix_is_added(ann_settings, ann_media, tmp_path):
    assert (
        annotate_file("canny", ann_media / "scene.png", tmp_path / "edges", ann_settings).path == tmp_path / "edges.png"
    )


def test_mask_files_are_binary_with_notes(ann_settings, ann_media, tmp_path):
    result = annotate_file("mask", ann_media / "scene.png", tmp_path / "m.png", ann_settings, target="red box")
    mask = read_image(result.path)[..., 0]
    assert set(np.unique(mask)) <= {0, 255} and mask.any()
    assert result.notes and "red box" in result.notes[0]
    video = annotate_file("salient", ann_media / "clip.mp4", tmp_path / "s.mp4", ann_settings).path
    masks = read_mask(video)
    assert masks.shape == (4, 64, 64) and set(np.unique(masks)) <= {0, 255}


def test_outpaint_writes_canvas_and_mask(ann_settings, ann_media, tmp_path):
    result = annotate_file("outpaint", ann_media / "scene.png", tmp_path / "wide.png", ann_settings)
    canvas, mask = read_image(result.path), read_image(result.extra["mask"])
    assert result.extra["mask"] == tmp_path / "wide.mask.png"
    assert canvas.shape == (96, 144, 3) and mask.shape == (96, 144, 3)
    assert (mask[0, 0] == 255).all() and (mask[48, 72] == 0).all() and (canvas[0, 0] == 127).all()


@pytest.mark.parametrize("kind,index", [("frameref-first", 0), ("frameref-last", -1)])
def test_frameref_expands_an_image_to_a_clip(ann_settings, ann_media, scene, tmp_path, kind, index):
    result = annotate_file(kind, ann_media / "scene.png", tmp_path / "clip", ann_settings, num_frames=9)
    assert result.path.suffix == ".mp4"
    frames, _ = read_video(result.path)
    masks = read_mask(result.extra["mask"])
    assert frames.shape == (9, 64, 96, 3) and masks.shape == (9, 64, 96)
    assert (masks[index] == 0).all() and (masks[1:-1] == 255).all()
    assert np.abs(frames[index].astype(int) - scene).mean() < 8  # H.264 keeps the given frame
    assert np.abs(frames[4].astype(int) - 127).max() < 4  # grey holes


def test_frameref_of_a_video_is_refused(ann_settings, ann_media, tmp_path):
    with pytest.raises(MediaError, match="give an image"):
        annotate_file("frameref-first", ann_media / "clip.mp4", tmp_path / "x.mp4", ann_settings)


def test_subject_crop_is_an_image_even_from_a_video(ann_settings, ann_media, tmp_path):
    out = annotate_file("subject", ann_media / "clip.mp4", tmp_path / "ref.png", ann_settings, target="red box").path
    crop = read_image(out)
    assert crop.ndim == 3 and crop.shape[0] <= 64 and crop.shape[1] <= 64


def test_missing_input_is_a_clear_error(ann_settings, ann_media, tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        annotate_file("depth", ann_media / "nope.png", tmp_path / "o.png", ann_settings)


@pytest.mark.parametrize(
    "name,message", [("broken.mp4", "not a readable video"), ("broken.png", "not a readable image")]
)
def test_corrupt_input_is_a_clear_error(ann_settings, ann_media, tmp_path, name, message):
    with pytest.raises(MediaError, match=message):
        annotate_file("canny", ann_media / name, tmp_path / "o", ann_settings)


def test_wrong_output_suffix_and_unknown_kind(ann_settings, ann_media, tmp_path):
    with pytest.raises(MediaError, match="must end in .mp4"):
        annotate_file("canny", ann_media / "clip.mp4", tmp_path / "o.png", ann_settings)
    with pytest.raises(ValueError, match="unknown annotator 'sketch'"):
        annotate_file("sketch", ann_media / "scene.png", tmp_path / "o.png", ann_settings)


def test_missing_weights_say_what_to_do(ann_settings, ann_media, tmp_path):
    settings = ann_settings.replace(depth_model=str(tmp_path / "no-depth-model"))
    with pytest.raises(WeightsError, match="UNISON_DEPTH_MODEL"):
        annotate_file("depth", ann_media / "scene.png", tmp_path / "o.png", settings)
    assert not (tmp_path / "o.png").exists()


def test_one_registry_names_every_annotator_and_the_control_kinds():
    from unison_agent.contract.plan import CONTROL_KINDS as PLAN_CONTROL_KINDS
    from unison_agent.tools.annotate import CONTROL_KINDS
    from unison_agent.tools.registry import Annotator

    assert set(CONTROL_KINDS) == set(PLAN_CONTROL_KINDS), "the plan's control kinds are the control annotators"
    for name, cls in ANNOTATORS.items():
        assert issubclass(cls, Annotator) and cls.name == name and cls.description
    with pytest.raises(RuntimeError, match="before setup"):
        ANNOTATORS["canny"]()(np.zeros((1, 8, 8, 3), np.uint8))


def test_notes_come_back_with_the_file(ann_settings, ann_media, tmp_path):
    result = annotate_file("mask", ann_media / "scene.png", tmp_path / "m.png", ann_settings, target="unicorn")
    assert read_mask(result.path).shape[:2] == read_image(ann_media / "scene.png").shape[:2]
    assert result.notes and ("unicorn" in result.notes[0])


def test_annotator_outputs_have_sidecars(ann_settings, ann_media, tmp_path):
    result = annotate_file("outpaint", ann_media / "scene.png", tmp_path / "wide.png", ann_settings)
    main, mask = (json.loads(p.read_text()) for p in result.sidecars)
    assert [p.name for p in result.sidecars] == ["wide.json", "wide.mask.json"]
    assert main["output"] == "wide.png" and main["annotator"] == "outpaint"
    assert main["input"] == str((ann_media / "scene.png").resolve()) and main["companions"] == {"mask": "wide.mask.png"}
    assert mask["output"] == "wide.mask.png" and mask["companion_of"] == "wide.png" and mask["role"] == "mask"
    assert list_outputs(tmp_path) == [tmp_path / "wide.mask.png", tmp_path / "wide.png"]
    depth = annotate_file("depth", ann_media / "clip.mp4", tmp_path / "d.mp4", ann_settings)
    side = json.loads(depth.sidecars[0].read_text())
    assert side["output"] == "d.mp4" and side["models"] == {"depth_model": ann_settings.depth_model}
    assert "total_s" in side["timings"] and not list(tmp_path.glob(".*"))
