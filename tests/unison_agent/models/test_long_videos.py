"""Long videos window by window, and "extend this video" (issue 22), through Session on the tiny demo models.

Windows are made small here (13 frames, 5 kept) so that a 2-second video takes four calls in seconds. A spy on
``diffusers.WanVACEPipeline.__call__`` records what each call received (video, mask, references, embeddings) and
what it returned (the float frames), optionally tinting what it returns to test the colour matching.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import natural_clip
from unison_agent.contract.settings import Settings
from unison_agent.media.colour import match_to
from unison_agent.media.files import read_video, write_image, write_video

WINDOW = {"window_frames": 13, "window_overlap": 5}
SMALL = {"width": 64, "height": 64}


@pytest.fixture(scope="module")
def session(tmp_path_factory, tiny_root):
    from unison_agent.core.demo import demo_settings
    from unison_agent.core.session import Session

    home = tmp_path_factory.mktemp("long_home")
    settings = Settings.resolve({"home": str(home), "demo": True, "demo_dir": str(tiny_root), **WINDOW}, env={})
    s = Session(demo_settings(settings), thread="long")  # demo mode enters at the face: here, the test
    yield s
    s.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("long_media")
    write_video(d / "clip.mp4", natural_clip(24, 64, 64, seed=7), fps=16)  # 1.5 s
    write_image(d / "dog.png", natural_clip(1, 64, 64, seed=2)[0])
    return d


@pytest.fixture
def calls(monkeypatch):
    """Each call's keyword arguments and its returned frames (float, (T, H, W, 3)). With ``tint[0]`` (an RGB
    offset) set, the model is replaced by a known picture that every call after the first returns tinted."""
    from diffusers import WanVACEPipeline

    seen: list[dict] = []
    original = WanVACEPipeline.__call__
    tint: list = [None]

    def spy(self, *args, **kwargs):
        if tint[0] is None:
            out = original(self, *args, **kwargs)
        else:
            h, w, n = kwargs["height"], kwargs["width"], kwargs["num_frames"]
            yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
            picture = np.stack([0.3 + 0.3 * xx, 0.4 + 0.2 * yy, 0.5 - 0.2 * xx * yy], -1).astype(np.float32)
            frames = np.repeat(picture[None], n, 0) + (np.asarray(tint[0], np.float32) if seen else 0)
            out = type("Out", (), {"frames": [np.clip(frames, 0, 1)]})()
        seen.append({**kwargs, "returned": np.array(out.frames[0], dtype=np.float32)})
        return out

    monkeypatch.setattr(WanVACEPipeline, "__call__", spy)
    return seen, tint


def _sidecar(result) -> dict:
    return json.loads(Path(result.results[-1]["sidecars"][0]).read_text())


def test_a_two_second_video_is_made_in_four_windows_that_keep_the_previous_frames(session, calls):
    seen, _ = calls
    r = session.send("make a 2-second video of a fox running in the snow", overrides=SMALL)
    assert r.ok and r.task == "text_to_video", r.errors
    assert [c["num_frames"] for c in seen] == [13, 13, 13, 9]  # 33 frames: 13, then 8 + 8 + 4 new ones
    assert all(c["num_frames"] <= WINDOW["window_frames"] for c in seen)
    for call in seen[1:]:
        video, mask = call["video"][0], call["mask"][0, ..., 0]
        assert (mask[:5] == 0).all() and (mask[5:] == 1).all()  # kept frames, then frames to make
        assert (video[5:] == 0.5).all()  # text-to-video: the new frames are grey
        assert video.dtype == np.float32
    np.testing.assert_array_equal(seen[1]["video"][0][:5], seen[0]["returned"][-5:])  # floats, no round trip
    frames, fps = read_video(r.outputs[0])
    assert frames.shape[0] == 33 and fps == 16
    for prev, call in zip(seen[1:], seen[2:], strict=False):  # later windows keep the previous one's last frames,
        made = prev["returned"]  # as they went into the video: colour-matched to that window's own kept frames
        expected = match_to(made, made[:5], prev["video"][0][:5])[-5:]
        np.testing.assert_allclose(call["video"][0][:5], expected, atol=1e-6)
    assert all(c["prompt_embeds"] is seen[0]["prompt_embeds"] for c in seen)  # one conditioning for all
    side = _sidecar(r)
    assert side["num_frames"] == 33 and len(side["windows"]["calls"]) == 4 and len(side["joins"]) == 3
    assert (
        len({c["seed"] for c in side["windows"]["calls"]}) == 4 and side["windows"]["calls"][0]["seed"] == side["seed"]
    )


def test_references_go_to_every_window(session, files, calls):
    seen, _ = calls
    r = session.send(
        f"make a video of this dog ###{files / 'dog.png'}### running on a beach, 2 seconds", overrides=SMALL
    )
    assert r.ok and r.task == "video_reference", r.errors
    assert len(seen) == 4 and all(len(c["reference_images"]) == 1 for c in seen)


def test_image_to_video_last_puts_the_frame_in_the_last_window(session, files, calls):
    seen, _ = calls
    r = session.send(f"a 2-second video that ends with ###{files / 'dog.png'}### as the last frame", overrides=SMALL)
    assert r.ok and r.task == "image_to_video", r.errors
    assert len(seen) == 4
    last = seen[-1]["mask"][0, ..., 0]
    assert (last[-1] == 0).all() and (last[5:-1] == 1).all()
    assert all((c["mask"][0, ..., 0][c["mask"].shape[1] - 1] == 1).all() for c in seen[1:-1])


def test_extend_a_clip_by_one_second_begins_with_the_clip(session, files, calls):
    seen, _ = calls
    clip = files / "clip.mp4"
    steps = session.plan(f"extend ###{clip}### by 1 second")
    plan = steps[0].plan
    assert plan.task.value == "video_extend" and plan.extend_by == 16 and plan.num_frames == 24 + 16
    r = session.send(f"extend ###{clip}### by 1 second")
    assert r.ok and r.task == "video_extend", r.errors
    source, _ = read_video(clip)
    assert [c["num_frames"] for c in seen] == [13, 13]  # 5 kept + 8 new, twice
    np.testing.assert_array_equal(seen[0]["video"][0][:5], source[19:24].astype(np.float32) / 255.0)
    assert (seen[0]["mask"][0, :5] == 0).all() and (seen[0]["mask"][0, 5:] == 1).all()
    frames, fps = read_video(r.outputs[0])
    assert frames.shape[0] == 40 and fps == 16
    write_video(files / "again.mp4", source, fps=16)  # what one more H.264 pass alone changes
    codec = np.abs(read_video(files / "again.mp4")[0].astype(float) - source).mean()
    assert np.abs(frames[:24].astype(float) - source).mean() <= 1.5 * codec + 1  # the clip, unchanged
    assert _sidecar(r)["windows"]["given"] == 24


def test_make_it_two_seconds_long_extends_the_last_video(session, calls):
    seen, _ = calls
    first = session.send("make a 1-second video of a cat", overrides=SMALL)
    assert first.ok and read_video(first.outputs[0])[0].shape[0] == 17
    r = session.send("make it 2 seconds long")
    assert r.ok and r.task == "video_extend", r.errors
    assert r.plan["num_frames"] == 33 and r.plan["extend_by"] == 16
    assert read_video(r.outputs[0])[0].shape[0] == 33


def test_the_words_recognise_extensions_and_the_protocol_refuses_them(session, files):
    from unison_agent.contract.errors import PlanError
    from unison_agent.contract.plan import PLANNER_TASKS, Task
    from unison_agent.contract.protocol import encode

    clip = files / "clip.mp4"
    for words, added in [
        (f"continue ###{clip}### for 2 more seconds", 32),
        (f"make ###{clip}### longer", 64),
        (f"extend the video ###{clip}### by 3 seconds", 48),
    ]:
        (step,) = session.plan(words)
        assert step.plan.task is Task.video_extend and step.plan.extend_by == added, words
    assert Task.video_extend not in PLANNER_TASKS and len(PLANNER_TASKS) == 12
    with pytest.raises(PlanError, match="not a planner task"):
        encode(session.plan(f"extend ###{clip}### by 1 second")[0].plan)


def test_lengths_up_to_max_video_seconds_and_a_clear_error_above(session):
    (step,) = session.plan("make a 30-second video of waves")
    assert step.plan.num_frames == 481
    r = session.send("make a 90-second video of waves")
    assert not r.ok and "max_video_seconds" in r.answer
    r = session.send("make a video of waves", overrides={**SMALL, "num_frames": 1441})
    assert not r.ok and "max_video_seconds" in r.answer


def test_a_tint_in_later_windows_is_removed_at_the_joins(session, calls):
    seen, tint = calls
    tint[0] = (0.25, -0.1, 0.0)  # every window after the first comes back redder
    r = session.send("make a 2-second video of a red barn", overrides={**SMALL, "seed": 3})
    assert r.ok, r.errors
    frames, _ = read_video(r.outputs[0])
    means = frames.reshape(frames.shape[0], -1, 3).mean(1)
    raw = [np.asarray(c["returned"]).reshape(-1, 3).mean(0) * 255 for c in seen]
    assert raw[1][0] - raw[0][0] > 30  # what the pipeline returned is tinted ...
    for join in _sidecar(r)["joins"]:  # ... but across each join the video's colour does not jump
        j = join["frame"]
        assert abs(means[j][0] - means[j - 1][0]) < 3, (j, means[j - 1], means[j])
    assert abs(means[-1][0] - means[0][0]) < 4  # and no tint builds up
    assert all(j["ratio"] is None or j["jump"] < 4 for j in _sidecar(r)["joins"])


def test_a_video_edit_without_a_length_takes_the_whole_clip_window_by_window(session, files, calls):
    seen, _ = calls
    clip = files / "clip.mp4"  # 24 frames at 16 fps: 21 frames (4k+1) at real speed, two 13-frame windows
    r = session.send(f"make the dog purple in ###{clip}###", overrides=SMALL)
    assert r.ok and r.task == "video_edit", r.errors
    assert [c["num_frames"] for c in seen] == [13, 13]
    source = read_video(clip)[0].astype(np.float32) / 255.0
    second = seen[1]
    video, mask = second["video"][0], second["mask"][0, ..., 0]
    assert (mask[:5] == 0).all() and mask[5:].any()  # kept frames, then that range's own mask
    hole = mask[5:] > 0.5
    np.testing.assert_allclose(video[5:][~hole], source[13:21][~hole], atol=1e-6)  # that range's source frames,
    assert (video[5:][hole] == 0.5).all()  # greyed under that range's masks
    assert read_video(r.outputs[0])[0].shape[0] == 21


def test_video_control_takes_the_whole_clip_up_to_max_video_seconds(session, files, tmp_path, tiny_root):
    from unison_agent.core.demo import demo_settings
    from unison_agent.core.session import Session

    words = f"make a video of a robot following the depth of ###{files / 'clip.mp4'}###"
    (step,) = session.plan(words)
    assert step.plan.task.value == "video_control" and step.plan.num_frames == 21
    (step,) = session.plan(words + ", 9 frames")
    assert step.plan.num_frames == 9  # a length that was asked for stays
    capped = Settings.resolve(
        {"home": str(tmp_path), "demo": True, "demo_dir": str(tiny_root), "max_video_seconds": 1, **WINDOW}, env={}
    )
    with Session(demo_settings(capped), thread="capped") as s:
        (step,) = s.plan(words)
    assert step.plan.num_frames == 17
    assert any("max_video_seconds" in n and "1.3 s long" in n for n in step.notes), step.notes


KILL_AT_THIRD_WINDOW = """
import os, signal, sys
import torch
from diffusers import WanVACEPipeline
from unison_agent.contract.settings import Settings
from unison_agent.core.demo import demo_settings
from unison_agent.core.session import Session

home, tiny, request = sys.argv[1:4]
original, calls = WanVACEPipeline.__call__, []

def spy(self, *args, **kwargs):
    calls.append(kwargs["num_frames"])
    if len(calls) == 3:  # windows 1 and 2 are finished and written: the process dies here, no cleanup
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args, **kwargs)

WanVACEPipeline.__call__ = spy
torch.set_num_threads(1)  # as in the test process (conftest): the same sums in the same order
settings = Settings.resolve({"home": home, "demo": True, "demo_dir": tiny, "window_frames": 13,
                             "window_overlap": 5}, env={})
Session(demo_settings(settings), thread="killed").send(request, overrides={"width": 64, "height": 64})
"""


def _work_folders(home: Path) -> list[Path]:
    return [p for p in (home / "work").glob("*") if p.is_dir()]


def test_a_killed_run_continues_from_its_last_finished_window_and_makes_the_same_video(tmp_path, tiny_root, calls):
    import subprocess
    import sys

    from unison_agent.core.demo import demo_settings
    from unison_agent.core.session import Session

    seen, _ = calls
    request = "make a 2-second video of a lighthouse at night"
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_THIRD_WINDOW, str(tmp_path), str(tiny_root), request],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    (work,) = _work_folders(tmp_path)
    assert sorted(p.name for p in work.glob("window-*.json")) == ["window-000.json", "window-001.json"]

    tail = np.load(work / "window-001.tail.npy")  # what window 3 must keep
    made = np.concatenate([np.load(work / "window-000.frames.npy")[:8], np.load(work / "window-001.frames.npy")])

    settings = Settings.resolve({"home": str(tmp_path), "demo": True, "demo_dir": str(tiny_root), **WINDOW}, env={})
    with Session(demo_settings(settings), thread="killed") as s:
        assert s.history()[-1]["errors"], "the killed turn is closed as interrupted"
        r = s.retry()  # the same request with the same overrides (64x64)
        assert r.ok, r.errors
    assert [c["num_frames"] for c in seen] == [13, 9]  # windows 3 and 4 only: none is made twice
    np.testing.assert_array_equal(seen[0]["video"][0][:5], tail)  # window 3 keeps what window 2 left, unrounded
    assert (seen[0]["mask"][0, :5, ..., 0] == 0).all()
    side = _sidecar(r)
    assert side["windows"]["resumed"] == 2 and len(side["windows"]["calls"]) == 4
    assert any("continued from window 3/4" in n for n in r.results[-1]["notes"])
    assert not _work_folders(tmp_path), "a finished step deletes its work folder"
    frames, fps = read_video(r.outputs[0])
    assert frames.shape[0] == 33 and fps == 16
    write_video(tmp_path / "made.mp4", made, fps=16)  # what one H.264 pass alone changes in those frames
    codec = np.abs(read_video(tmp_path / "made.mp4")[0].astype(float) - made).mean()
    assert np.abs(frames[:16].astype(float) - made[:16]).mean() <= 1.5 * codec + 1  # windows 1-2 as made before


def test_a_stopped_turn_continues_from_its_last_finished_window(session, calls):
    seen, _ = calls

    def stop_in_window_three(event):
        if event.get("event") == "step" and event.get("window") == 3:
            session.cancel()

    r = session.send("make a 2-second video of a sailing boat", overrides=SMALL, on_event=stop_in_window_three)
    assert not r.ok and len(seen) == 2  # the third call was stopped inside (the spy records returned calls)
    seen.clear()
    events: list[dict] = []
    r = session.retry(on_event=events.append)
    assert r.ok, r.errors
    assert [c["num_frames"] for c in seen] == [13, 9] and r.plan["width"] == 64
    assert any(e.get("event") == "status" and "continuing from window 3/4" in e.get("text", "") for e in events)
    labels = [e["text"] for e in events if e.get("event") == "stage" and e.get("stage") == "denoising"]
    assert labels == ["window 3/4 · denoising", "window 4/4 · denoising"]
    steps = [e for e in events if e.get("event") == "step" and e.get("stage") == "denoising"]
    assert {(e["window"], e["windows"]) for e in steps} == {(3, 4), (4, 4)}
