"""The tiny annotator kit: published layouts, idempotence, one SAM 2 directory for image and video."""

from __future__ import annotations

import time
from pathlib import Path

from unison_agent.tiny.annotators import MARKER, build_tiny_annotators


def test_kit_layout(tiny_annotators):
    assert set(tiny_annotators) == {"depth_model", "pose_model", "person_model", "grounding_model", "sam2_model"}
    for path in map(Path, tiny_annotators.values()):
        assert path.is_absolute() and (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert (Path(tiny_annotators["depth_model"]) / "preprocessor_config.json").is_file()
    assert (Path(tiny_annotators["grounding_model"]) / "tokenizer.json").is_file()
    assert (Path(tiny_annotators["sam2_model"]) / "processor_config.json").is_file()


def test_kit_is_idempotent(tiny_annotators, tiny_root):
    root = tiny_root / "annotators"
    assert (root / MARKER).is_file()
    start = time.perf_counter()
    assert build_tiny_annotators(root) == tiny_annotators
    assert time.perf_counter() - start < 0.5


def test_one_sam2_directory_serves_image_and_video(tiny_annotators):
    import json

    from transformers import Sam2Model, Sam2VideoModel

    path = tiny_annotators["sam2_model"]
    assert json.loads((Path(path) / "config.json").read_text())["model_type"] == "sam2_video"
    assert isinstance(Sam2Model.from_pretrained(path), Sam2Model)
    assert isinstance(Sam2VideoModel.from_pretrained(path), Sam2VideoModel)
