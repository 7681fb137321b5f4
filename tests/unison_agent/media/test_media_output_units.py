"""An output and its sidecar are one unit: temporary names, the output renamed first and the sidecar last, nothing
left behind on failure; listings show only complete outputs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from unison_agent.media import files as media
from unison_agent.media.files import list_outputs, output_unit, read_image, read_video, save_image, write_output


@pytest.fixture()
def renames(monkeypatch):
    """The targets of every rename media.py makes, in order."""
    done = []
    real = os.replace

    def spy(src, dst):
        done.append(os.path.basename(dst))
        return real(src, dst)

    monkeypatch.setattr(media.os, "replace", spy)
    return done


def test_output_then_sidecar_last(tmp_path, renames):
    out, side = write_output(tmp_path / "a.png", np.full((8, 8, 3), 7, np.uint8), {"seed": 3})
    assert renames == ["a.png", "a.json"]
    assert (out, side) == (tmp_path / "a.png", tmp_path / "a.json")
    assert json.loads(side.read_text()) == {"output": "a.png", "seed": 3}
    assert read_image(out)[0, 0].tolist() == [7, 7, 7]
    write_output(tmp_path / "v.mp4", np.zeros((5, 16, 16, 3), np.uint8), {"seed": 4}, fps=8)
    assert renames[2:] == ["v.mp4", "v.json"] and read_video(tmp_path / "v.mp4")[0].shape == (5, 16, 16, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.png", "v.json", "v.mp4"]


def test_temporaries_are_hidden_from_listings_while_writing(tmp_path):
    with output_unit(tmp_path / "b.png") as unit:
        save_image(unit.tmp, np.zeros((4, 4, 3), np.uint8))
        assert unit.tmp.name.startswith(".") and unit.tmp.suffix == ".tmp"
        assert list(tmp_path.glob("*.png")) == [] and list_outputs(tmp_path) == []
        unit.record = {"seed": 1}
    assert list_outputs(tmp_path) == [tmp_path / "b.png"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="encoder died"):
        with output_unit(tmp_path / "c.png") as unit:
            save_image(unit.tmp, np.zeros((4, 4, 3), np.uint8))
            raise RuntimeError("encoder died")
    with pytest.raises(ValueError, match="sidecar"):
        with output_unit(tmp_path / "d.png") as unit:
            save_image(unit.tmp, np.zeros((4, 4, 3), np.uint8))  # no record: not committed
    assert list(tmp_path.iterdir()) == []


def test_list_outputs_skips_outputs_without_a_sidecar(tmp_path):
    write_output(tmp_path / "done.png", np.zeros((4, 4, 3), np.uint8), {})
    media.write_image(tmp_path / "orphan.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / ".x.png.123.tmp").write_bytes(b"partial")
    assert list_outputs(tmp_path) == [tmp_path / "done.png"]
    assert list_outputs(tmp_path / "missing") == []
