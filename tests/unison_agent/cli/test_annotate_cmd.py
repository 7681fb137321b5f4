"""`cli.py annotate KIND INPUT [--target] -o OUT` on the tiny annotator kit."""

from __future__ import annotations

import shutil

import pytest

from unison_agent.cli import main
from unison_agent.media.files import check_file


@pytest.fixture()
def tiny_env(monkeypatch, tiny_annotators):
    for name, path in tiny_annotators.items():
        monkeypatch.setenv(f"UNISON_{name.upper()}", path)
    monkeypatch.setenv("UNISON_DEVICE", "cpu")


def test_video_in_video_out_same_frame_count(tiny_env, media_dir, tmp_path, capsys):
    out = tmp_path / "depth.mp4"
    assert main(["annotate", "depth", str(media_dir / "clip.mp4"), "-o", str(out)]) == 0
    info = check_file(out)
    assert (info.kind, info.frames, info.width, info.height) == ("video", 9, 64, 64)
    assert f"wrote {out}" in capsys.readouterr().out


def test_default_output_beside_the_input(tiny_env, media_dir, tmp_path):
    src = tmp_path / "photo.png"
    shutil.copy(media_dir / "photo.png", src)
    assert main(["annotate", "canny", str(src)]) == 0
    info = check_file(tmp_path / "photo_canny.png")
    assert (info.kind, info.width, info.height) == ("image", 96, 64)


def test_mask_with_target_reports_what_it_found(tiny_env, media_dir, tmp_path, capsys):
    out = tmp_path / "mask.png"
    assert main(["annotate", "mask", str(media_dir / "photo.png"), "--target", "the red box", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note:" in printed and "red box" in printed
    assert check_file(out).kind == "image"


def test_errors_are_clear(tiny_env, media_dir, tmp_path, capsys):
    assert main(["annotate", "sharpen", str(media_dir / "photo.png")]) == 2
    assert "unknown annotator 'sharpen'" in capsys.readouterr().err
    assert main(["annotate", "depth", str(tmp_path / "missing.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["annotate", "depth", str(media_dir / "clip.mp4"), "-o", str(tmp_path / "x.png")]) == 2
    assert "must end in .mp4" in capsys.readouterr().err.replace("\n", " ")


def test_list(capsys):
    assert main(["annotate", "--list"]) == 0
    kinds = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"depth", "pose", "canny", "gray", "flow", "scribble", "mask", "salient"} <= set(kinds)
