"""Loading Wan2.1-VACE: the diffusers layout, once per process, fp32 VAE, clear errors for missing pieces."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from unison_agent.contract.errors import WeightsError
from unison_agent.models.registry import registry
from unison_agent.models.vace_loader import check_vace_dir, load_vace, vace_key


def test_tiny_kit_writes_the_published_layout(tiny_vace):
    from pathlib import Path

    root = Path(tiny_vace["vace"])
    for name in (
        "model_index.json",
        "transformer/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "scheduler/scheduler_config.json",
    ):
        assert (root / name).is_file(), name
    assert any((root / "tokenizer").iterdir())
    check_vace_dir(root)


def test_build_is_idempotent(tiny_vace, tiny_root):
    from unison_agent.tiny.wan import build_tiny_vace

    before = os.path.getmtime(os.path.join(tiny_vace["vace"], "model_index.json"))
    assert build_tiny_vace(tiny_root) == tiny_vace
    assert os.path.getmtime(os.path.join(tiny_vace["vace"], "model_index.json")) == before


def test_loaded_once_with_fp32_vae_and_method_text_width(pipe, s2_settings):
    from diffusers import WanVACEPipeline

    assert isinstance(pipe, WanVACEPipeline)
    assert load_vace(s2_settings) is pipe
    assert registry().loads.count(vace_key(s2_settings)) == 1
    assert pipe.vae.dtype == torch.float32
    assert pipe.text_encoder.config.d_model == 32 == pipe.transformer.config.text_dim


def test_missing_directory_and_missing_parts_are_named(tiny_vace, s2_settings, tmp_path):
    with pytest.raises(WeightsError, match=r"does not exist; download Wan-AI/Wan2.1-VACE-1.3B-diffusers"):
        load_vace(s2_settings.replace(vace=str(tmp_path / "nowhere")))
    broken = tmp_path / "vace"
    shutil.copytree(tiny_vace["vace"], broken)
    shutil.rmtree(broken / "vae")
    (broken / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsError) as err:
        load_vace(s2_settings.replace(vace=str(broken)))
    assert "missing transformer/ weights (*.safetensors), vae/;" in str(err.value)


@pytest.mark.slow
def test_real_checkpoint_text_to_image(tmp_path):
    """With the published Wan2.1-VACE-1.3B under UNISON_HOME: a 4-step 832x480 image."""
    from unison_agent.contract.plan import Plan
    from unison_agent.contract.settings import Settings
    from unison_agent.tools.generate import generate

    settings = Settings.resolve({"steps": 4})
    plan = Plan(task="text_to_image", prompt="a red bird on a branch", width=832, height=480, num_frames=1)
    res = generate(plan, settings, cond_tokens=None, out_dir=tmp_path, seed=0)
    assert res.outputs[0].exists() and (res.width, res.height) == (832, 480)
