"""`unison batch` on a local Ray (2 CPU workers, demo models): six lines, one naming a missing file; results, sidecars,
seeds, the exit code, then a rerun that resumes (only the failed line runs again)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.unison_agent.serve.conftest import UNISON
from unison_agent.media.files import read_image, read_video

pytest.importorskip("ray")
VIDEO = {"width": 64, "height": 64, "num_frames": 5}


def batch(jsonl, out, env, workers):
    cmd = [*UNISON, "batch", str(jsonl), "-o", str(out), "--workers", str(workers), "--demo", "--json"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_batch_on_local_ray_resumes(tmp_path, server_env, demo_models, media_dir):
    for name in ("photo.png", "clip.mp4"):
        shutil.copy(media_dir / name, tmp_path / name)
    lines = [
        {"id": "capital", "request": "what is the capital of France?"},
        {"request": "make a picture of a red fox", "seed": 7},
        {"request": "describe this picture", "files": ["photo.png"]},
        {"request": "animate this for 1 second", "files": ["photo.png"], "overrides": VIDEO, "seed": 3},
        {"request": "describe this picture", "files": ["missing.png"]},
        {"request": "make the square red", "files": ["clip.mp4"], "overrides": VIDEO},
    ]
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{not json\n")  # line 7 is malformed
    out = tmp_path / "out"

    first = batch(jsonl, out, server_env, workers=2)
    assert first.returncode == 1, first.stderr[-3000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert (summary["total"], summary["done"], summary["failed"], summary["skipped"]) == (7, 5, 2, 0)
    assert "batch: 100%" in first.stderr and "7/7" in first.stderr  # the bar counts every line, failed ones too
    (malformed,) = [x for x in re.split(r"[\r\n]", first.stderr) if x.startswith("failed: line 7:")]
    assert malformed.count("line 7") == 1 and "not valid JSON" in malformed, malformed
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text('{"request": "a fox", "id": "ok"}\n'.replace("a fox", "") + "[1, 2]\n")  # no Ray needed
    human = subprocess.run(
        [*UNISON, "batch", str(only_bad), "-o", str(tmp_path / "bad"), "--demo"],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert human.returncode == 1 and "2/2" in human.stderr, human.stderr
    for n in (1, 2):  # each failure names its line once, in the bar's messages and in the summary
        assert [x.count(f"line {n}") for x in human.stdout.splitlines() if f"line {n}" in x] == [1], human.stdout

    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6, 7] and records[0]["id"] == "capital"
    assert [r["task"] for r in records] == [
        "text_understanding",
        "text_to_image",
        "image_understanding",
        "image_to_video",
        None,
        "video_edit",
        None,
    ]
    assert [r["ok"] for r in records] == [True, True, True, True, False, True, False]
    assert "missing.png" in records[4]["errors"][0]["error"]
    assert {r["worker"] for r in records if "worker" in r} == {"worker-0", "worker-1"}
    assert records[1]["seeds"] == [7] and read_image(records[1]["outputs"][0]).shape == (64, 64, 3)
    frames, _ = read_video(records[3]["outputs"][0])
    assert records[3]["seeds"] == [3] and frames.shape[0] == 5  # the size follows the photo's aspect ratio
    assert all(str(out / "outputs") in p for r in records for p in r["outputs"])

    # resume: the five lines done are skipped by their sidecars, the failed one runs (and fails) again
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "items").glob("*.json")}
    again = batch(jsonl, out, server_env, workers=1)
    assert again.returncode == 1, again.stderr[-3000:]
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["done"], summary["failed"], summary["skipped"]) == (5, 2, 5)
    changed = [n for n, t in stamps.items() if (out / "items" / n).stat().st_mtime_ns != t]
    assert sorted(changed) == ["line-00005.json", "line-00007.json"]
