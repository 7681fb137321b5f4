"""Hostile and huge media fail cleanly: caps read from headers and container metadata, named with their setting;
videos are probed, not decoded, to be validated; only the frames a step uses are decoded."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from unison_agent.contract.errors import MediaError
from unison_agent.contract.mentions import find_mentions
from unison_agent.contract.settings import Settings
from unison_agent.media import files as media
from unison_agent.media.files import (
    MediaLimits,
    check_file,
    probe_video,
    read_image,
    read_video,
    read_video_frames,
    write_video,
)

DEFAULTS = MediaLimits.from_settings(None)


def _limits(**caps) -> MediaLimits:
    return MediaLimits(**{**vars(DEFAULTS), **caps})


@pytest.fixture()
def clip(tmp_path):
    """33 frames at 16 fps (2.06 s), 64x48, each frame a different flat grey so frames can be told apart."""
    frames = np.stack([np.full((48, 64, 3), 6 * t, np.uint8) for t in range(33)])
    return write_video(tmp_path / "clip.mp4", frames, fps=16)


@pytest.fixture()
def decodes(monkeypatch):
    """Every frame-decoding pass: (frames it may keep, where it stops)."""
    calls = []
    real = media._decode

    def spy(path, container, stream, limits, keep, stop, *rest, **options):
        calls.append((keep, stop))
        return real(path, container, stream, limits, keep, stop, *rest, **options)

    monkeypatch.setattr(media, "_decode", spy)
    return calls


def test_limits_are_settings_with_environment_variables(tmp_path):
    s = Settings.resolve(
        {}, env={"UNISON_HOME": str(tmp_path), "UNISON_LIMIT_IMAGE_PIXELS": "1000", "UNISON_LIMIT_VIDEO_SECONDS": "2.5"}
    )
    limits = MediaLimits.from_settings(s)
    assert limits.image_pixels == 1000 and limits.video_seconds == 2.5
    assert limits.file_bytes == DEFAULTS.file_bytes == 2 * 1024**3
    with pytest.raises(Exception, match="limit_video_frames"):
        Settings.resolve({"limit_video_frames": 0}, env={"UNISON_HOME": str(tmp_path)})


def test_pillow_decompression_bomb_is_a_media_error(tmp_path, monkeypatch):
    Image.new("RGB", (64, 64)).save(tmp_path / "bomb.png")  # 4,096 pixels
    Image.new("RGB", (40, 40)).save(tmp_path / "warned.png")  # 1,600 pixels: Pillow only warns
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for name in ("bomb.png", "warned.png"):
        with pytest.raises(MediaError, match="decompression bomb") as err:
            check_file(tmp_path / name)
        assert "MAX_IMAGE_PIXELS = 1,000" in str(err.value) and name in str(err.value)
    with pytest.raises(MediaError, match="decompression bomb"):
        read_image(tmp_path / "bomb.png")


def test_image_over_the_pixel_cap_is_refused_from_its_header(tmp_path, monkeypatch):
    Image.new("RGB", (64, 48)).save(tmp_path / "big.png")

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    with pytest.raises(MediaError) as err:
        check_file(tmp_path / "big.png", _limits(image_pixels=1000))
    message = str(err.value)
    assert "64x48 = 3,072 pixels" in message and "limit of 1,000 pixels" in message
    assert "limit_image_pixels" in message and "UNISON_LIMIT_IMAGE_PIXELS" in message


def test_file_over_the_byte_cap_is_refused(tmp_path, clip):
    Image.new("RGB", (64, 48)).save(tmp_path / "p.png")
    for path in (tmp_path / "p.png", clip):
        with pytest.raises(MediaError, match=r"over the limit of 50 bytes.*limit_file_bytes.*UNISON_LIMIT_FILE_BYTES"):
            check_file(path, _limits(file_bytes=50))


def test_long_video_is_refused_from_its_metadata(clip, decodes):
    with pytest.raises(MediaError) as err:
        check_file(clip, _limits(video_seconds=1.0))
    assert "lasts 2.1 seconds" in str(err.value) and "limit_video_seconds" in str(err.value)
    with pytest.raises(MediaError, match=r"has 33 frames, over the limit of 20 frames.*UNISON_LIMIT_VIDEO_FRAMES"):
        read_video(clip, limits=_limits(video_frames=20))
    with pytest.raises(MediaError, match=r"a frame is 64x48 = 3,072 pixels.*limit_image_pixels"):
        probe_video(clip, _limits(image_pixels=3000))
    assert decodes == []  # refused before any frame was decoded


def test_validation_probes_and_decodes_only_the_first_frame(clip, decodes):
    info = check_file(clip)
    assert (info.kind, info.width, info.height, info.frames, info.fps) == ("video", 64, 48, 33, 16.0)
    assert info.seconds == pytest.approx(33 / 16, abs=0.01)
    assert decodes == [(None, 1)]


def test_frame_cap_holds_while_decoding_when_the_container_under_reports(clip, monkeypatch):
    real = media._metadata
    monkeypatch.setattr(media, "_metadata", lambda c, s: {**real(c, s), "frames": 0, "seconds": None})
    assert probe_video(clip)["frames"] == 33  # counted by decoding when the container gives no length
    with pytest.raises(MediaError, match="more than 20 frames"):
        probe_video(clip, _limits(video_frames=20))


def test_mentions_are_checked_against_the_settings_caps(tmp_path, clip):
    s = Settings.resolve({"home": tmp_path, "limit_video_frames": 10}, env={})
    with pytest.raises(MediaError, match="limit_video_frames"):
        find_mentions(f"what happens in ###{clip}###", limits=MediaLimits.from_settings(s))
    assert find_mentions(f"what happens in ###{clip}###")[0].info.frames == 33


def test_plan_command_refuses_a_huge_image_with_the_setting_to_raise(tmp_path, monkeypatch, capsys):
    from unison_agent.cli import main

    Image.new("RGB", (64, 48)).save(tmp_path / "big.png")
    monkeypatch.setenv("UNISON_LIMIT_IMAGE_PIXELS", "1000")
    assert main(["plan", "--planner", "rules", f"describe ###{tmp_path / 'big.png'}###"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "3,072 pixels" in err and "UNISON_LIMIT_IMAGE_PIXELS" in err


def test_selected_frames_only(clip, decodes):
    full, fps = read_video(clip)
    picked = read_video_frames(clip, [0, 5, 10])
    assert np.array_equal(picked, full[[0, 5, 10]]) and fps == 16
    assert decodes[-1] == ({0, 5, 10}, 11)  # stopped after frame 10, kept three
    assert np.array_equal(read_video(clip, 4)[0], full[:4])
    # an index past the end (a container that over-reports) gets the last frame
    assert np.array_equal(read_video_frames(clip, [32, 40]), full[[32, 32]])


def test_understanding_samples_without_decoding_the_whole_video(clip, decodes, tmp_path):
    from unison_agent.tools.understand import sample_video

    s = Settings.resolve({"home": tmp_path, "video_fps": 2.0, "video_max_frames": 64}, env={})
    frames, meta = sample_video(str(clip), s)
    full, _ = read_video(clip)
    assert meta.total_num_frames == 33 and meta.fps == 16 and frames.shape == (4, 48, 64, 3)
    assert np.array_equal(frames, full[meta.frames_indices])
    assert decodes[:2] == [(None, 1), (set(meta.frames_indices), 33)]  # a probe, then only the sampled frames
    with pytest.raises(MediaError, match="limit_video_seconds"):
        sample_video(str(clip), s.replace(limit_video_seconds=1.0))


def test_control_generation_decodes_only_the_start_it_uses(tmp_path, decodes):
    from unison_agent.contract.plan import Plan
    from unison_agent.models.vace_inputs import prepare_clip
    from unison_agent.tools.generate import prepare_inputs

    frames = np.stack([np.full((64, 64, 3), 2 * t, np.uint8) for t in range(100)])
    long_clip = write_video(tmp_path / "pose.mp4", frames, fps=16)
    plan = Plan.from_json(
        {
            "task": "video_control",
            "prompt": "a dancer",
            "width": 64,
            "height": 64,
            "num_frames": 9,
            "fps": 16,
            "control": "ready",
            "inputs": [{"path": str(long_clip), "kind": "video", "role": "control"}],
        }
    )
    s = Settings.resolve({"home": tmp_path}, env={})
    got = prepare_inputs(plan, limits=MediaLimits.from_settings(s))
    stops = [stop for _, stop in decodes]
    assert stops[-1] is not None and stops[-1] <= 12  # 9 frames at 16 fps from a 16 fps clip: ~11 read, not 100
    full, fps = read_video(long_clip)
    want = prepare_clip(full, fps, 64, 64, 9, 16)
    assert got.video.shape == (9, 64, 64, 3) and np.array_equal(got.video, want.frames)
    assert got.warnings == want.warnings and "the clip is 6.2 s long" in got.warnings[0], "the whole clip is probed"
