"""`unison train projector` on the tiny kits: the frozen models stay frozen, only the projector learns, and the
saved file (the released key layout) generates through Session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.unison_agent.training.conftest import kit_flags


@pytest.fixture
def pairs(tmp_path):
    from unison_agent.media.files import write_image

    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 220
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 220
    write_image(tmp_path / "red.png", red)
    write_image(tmp_path / "blue.png", blue)
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"prompt": "a red picture", "target": "red.png"})
        + "\n"
        + json.dumps({"prompt": "a blue picture", "target": "blue.png"})
        + "\n"
    )
    return path


def test_only_the_projector_gets_gradients(tmp_path, tiny_qwen, tiny_vace, pairs):
    import torch

    from unison_agent.contract.settings import Settings
    from unison_agent.training.projector import ProjectorTrainConfig, ProjectorTrainer, load_pairs

    settings = Settings.resolve(
        {"home": str(tmp_path / "h"), "device": "cpu", "dtype": "float32", **tiny_qwen, **tiny_vace}, env={}
    )
    trainer = ProjectorTrainer(settings, ProjectorTrainConfig(out=tmp_path / "p.pth", start=None))
    loss = trainer.loss(load_pairs(pairs)[0], torch.Generator().manual_seed(0))
    loss.backward()
    frozen = (trainer.planner.model, trainer.pipe.transformer, trainer.pipe.vae, trainer.pipe.text_encoder)
    assert all(not m.training for m in frozen) and trainer.projector.training
    assert all(p.grad is None and not p.requires_grad for m in frozen for p in m.parameters())
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in trainer.projector.parameters()
        if p.requires_grad and p.dim() > 1
    )


def test_cli_training_lowers_the_held_fixed_loss_and_the_file_generates_through_session(
    tmp_path, tiny_qwen, tiny_vace, pairs, capsys
):
    """60 steps of `unison train projector` from the kit's projector.pth lower the flow-matching loss at fixed
    timesteps and noise by at least 10 % (measured 13.4-17.6 % over seeds 0-4), and the file generates."""
    from unison_agent.cli import main
    from unison_agent.contract.settings import Settings
    from unison_agent.core.session import Session
    from unison_agent.models.projector import EXPECTED_KEYS
    from unison_agent.training.projector import ProjectorTrainConfig, ProjectorTrainer, load_pairs, mean_loss

    out = tmp_path / "trained" / "projector.pth"
    flags = kit_flags(tmp_path / "home", tiny_qwen, tiny_vace)
    assert main(["train", "projector", str(pairs), "-o", str(out), "--max-steps", "60", "--lr", "3e-2", *flags]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "projector written to" in printed and "loss at fixed timesteps and noise on 2 pair(s)" in printed
    import torch

    state = torch.load(out, weights_only=True)
    assert sorted(state) == sorted(EXPECTED_KEYS)
    start = Path(tiny_qwen["unison"]) / "projector.pth"  # what the command starts from without --from / --fresh
    assert not torch.equal(state["net.0.weight"], torch.load(start, weights_only=True)["module.net.0.weight"])

    # the same timesteps and noise (mean_loss's fixed seed) for the starting and the trained projector
    eval_settings = Settings.resolve(
        {"home": str(tmp_path / "home"), "device": "cpu", "dtype": "float32", **tiny_qwen, **tiny_vace}, env={}
    )
    held = load_pairs(pairs)
    before = mean_loss(ProjectorTrainer(eval_settings, ProjectorTrainConfig(out=out, start=start)), held)
    after = mean_loss(ProjectorTrainer(eval_settings, ProjectorTrainConfig(out=out, start=out)), held)
    assert after <= 0.9 * before, f"the held-fixed loss went from {before:.4f} to {after:.4f}"
    said = json.loads(out.with_suffix(".json").read_text())["held_fixed"]  # what the command printed and kept
    assert said["before"] == pytest.approx(before, rel=1e-4) and said["after"] == pytest.approx(after, rel=1e-4)

    settings = Settings.resolve(
        {
            "home": str(tmp_path / "home2"),
            "device": "cpu",
            "dtype": "float32",
            "steps": 2,
            "planner": "rules",
            "projector": str(out),
            **tiny_qwen,
            **tiny_vace,
        },
        env={},
    )
    session = Session(settings, thread="trained-projector")
    try:
        result = session.send("make a picture of a red fox", overrides={"width": 64, "height": 64})
    finally:
        session.close()
    assert result.ok, result.errors
    assert result.outputs and str(result.outputs[0]).endswith(".png")
