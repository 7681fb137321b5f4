"""The projector: released layout and math, strict loading, and the reference input convention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unison_agent.contract.errors import WeightsError
from unison_agent.models.projector import (
    EXPECTED_KEYS,
    ProjMLP,
    load_projector,
    planner_hidden_states,
    projector_tokens,
)


def _reference(proj, x):
    """The released forward, written out: ln_in, net, ln_out, pad/cut to 56, Linear(56->4) over the sequence."""
    h = F.layer_norm(x, (x.shape[-1],), proj.ln_in.weight, proj.ln_in.bias)
    h = F.linear(h, proj.net[0].weight, proj.net[0].bias)
    h = F.gelu(h)
    h = F.linear(h, proj.net[3].weight, proj.net[3].bias)
    h = F.layer_norm(h, (h.shape[-1],), proj.ln_out.weight, proj.ln_out.bias)
    if h.shape[1] < 56:
        h = torch.cat([h, h.new_zeros(h.shape[0], 56 - h.shape[1], h.shape[2])], 1)
    h = h[:, :56]
    return torch.einsum("bld,kl->bkd", h, proj.seq_adjust.weight) + proj.seq_adjust.bias[None, :, None]


def _tiny_state(prefix: str = "") -> dict:
    torch.manual_seed(0)
    proj = ProjMLP(input_dim=64, hidden_dim=64, out_dim=32)
    return {prefix + k: v.clone() for k, v in proj.state_dict().items()}


def test_layout_keys_and_real_default_widths():
    proj = ProjMLP(input_dim=2048)
    shapes = {k: tuple(v.shape) for k, v in proj.state_dict().items()}
    assert set(shapes) == set(EXPECTED_KEYS)
    assert shapes["net.0.weight"] == (2048, 2048) and shapes["net.3.weight"] == (4096, 2048)
    assert shapes["ln_out.weight"] == (4096,) and shapes["seq_adjust.weight"] == (4, 56)
    assert isinstance(proj.net[1], torch.nn.GELU) and isinstance(proj.net[2], torch.nn.Dropout)


@pytest.mark.parametrize("length", [1, 20, 56, 80])
def test_forward_matches_the_released_math(length):
    proj = load_projector(_tiny_state(), 64)
    x = torch.randn(2, length, 64)
    with torch.no_grad():
        out = proj(x)
        assert out.shape == (2, 4, 32)
        torch.testing.assert_close(out, _reference(proj, x), atol=1e-5, rtol=1e-5)


def test_long_inputs_are_cut_to_56_positions():
    proj = load_projector(_tiny_state(), 64)
    x = torch.randn(1, 70, 64)
    with torch.no_grad():
        torch.testing.assert_close(proj(x), proj(x[:, :56]))


def test_loads_with_or_without_module_prefix(tmp_path):
    plain, prefixed = _tiny_state(), _tiny_state("module.")
    torch.save(prefixed, tmp_path / "projector.pth")
    a = load_projector(tmp_path / "projector.pth", 64)
    b = load_projector(plain, 64)
    x = torch.randn(1, 9, 64)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))
    assert not a.training  # eval: dropout off


def test_strict_errors_name_the_problem(tmp_path):
    state = _tiny_state()
    del state["ln_out.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match=r"missing keys \['ln_out.bias'\].*unexpected keys \['extra.weight'\]"):
        load_projector(state, 64)
    bad = _tiny_state()
    bad["ln_out.weight"] = torch.ones(7)
    with pytest.raises(WeightsError, match="shapes do not fit"):
        load_projector(bad, 64)
    with pytest.raises(WeightsError, match="width 64.*hidden size is 2048"):
        load_projector(_tiny_state(), 2048)
    with pytest.raises(WeightsError, match="not found"):
        load_projector(tmp_path / "none.pth", 64)
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read"):
        load_projector(tmp_path / "junk.pth", 64)


def test_tokens_follow_the_reference_convention(s1_settings):
    from unison_agent.models.qwen_loader import load_planner

    prompt = "make a video of <IMGPAD> dancing"
    tokens = projector_tokens(s1_settings, prompt)
    assert tokens.shape == (1, 4, 32) and tokens.dtype == torch.float32
    planner = load_planner(s1_settings)
    messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    ids = planner.processor.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=False, return_tensors="pt", return_dict=True
    )["input_ids"]
    assert not planner.tokenizer.decode(ids[0]).endswith("<|im_start|>assistant\n")  # no generation prompt
    hidden = planner_hidden_states(planner, prompt)
    assert hidden.shape == (1, ids.shape[1] - 1, 64)  # first position dropped
    with torch.no_grad():
        full = planner.backbone().model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(hidden, full[:, 1:])
    proj = load_projector(s1_settings.projector_path(), 64)
    with torch.no_grad():
        torch.testing.assert_close(tokens, proj(full[:, 1:].float()))
    # a different prompt gives different tokens
    assert not torch.allclose(tokens, projector_tokens(s1_settings, "a red bird"))


def test_no_projector_means_none(s1_settings, tmp_path):
    assert projector_tokens(s1_settings.replace(projector=str(tmp_path / "absent.pth")), "x") is None


def test_adapter_form_gives_the_same_tokens(s1_settings):
    merged = projector_tokens(s1_settings, "a fox <VIDPAD> in the snow")
    adapter = projector_tokens(s1_settings.replace(planner_merged=None), "a fox <VIDPAD> in the snow")
    torch.testing.assert_close(adapter, merged, atol=1e-4, rtol=1e-4)
