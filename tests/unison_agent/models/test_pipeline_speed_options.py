"""Speed and memory options reach the pipeline: residency decisions, group offloading, regional compile, step
caching, and the flags that set them (CPU, tiny models; the figures come from benchmarks/, not from here)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.fixtures.plans import make_plan
from unison_agent.models.pipeline import UnisonPipeline
from unison_agent.models.residency import Residency
from unison_agent.models.vace_inputs import prepare_inputs
from unison_agent.tools.generate import generate

SIZES = {"planner": 7, "text_encoder": 11, "transformer": 3, "vae": 1}  # GB-like units, budget 12


def test_only_the_models_a_stage_uses_sit_on_the_device(pipe, s2_media, monkeypatch):
    """Planner, then text encoder, then transformer + VAE: each stage evicts what it does not need."""
    moves: list[tuple[str, str]] = []
    names = {id(getattr(pipe, n)): n for n in ("text_encoder", "transformer", "vae")}
    planner = torch.nn.Linear(2, 2)
    names[id(planner)] = "planner"
    residency = Residency(
        "gpu:fake", 12, mover=lambda m, d: moves.append((names[id(m)], d)), size_of=lambda m: SIZES[names[id(m)]]
    )
    for module, name in [
        (planner, "planner"),
        (pipe.text_encoder, "text_encoder"),
        (pipe.transformer, "transformer"),
        (pipe.vae, "vae"),
    ]:
        residency.add(name, module)
    seen: dict[str, dict[str, str]] = {}
    for name in ("text_encoder", "transformer"):
        module = getattr(pipe, name)
        original = module.forward

        def spy(*a, _name=name, _original=original, **k):
            seen.setdefault(_name, residency.where())
            return _original(*a, **k)

        monkeypatch.setattr(module, "forward", spy)
    with residency.use("planner"):  # planning and the projector's hidden states
        pass
    unison = UnisonPipeline(pipe, residency=residency)
    plan = make_plan("text_to_image", s2_media)
    unison(plan, prepare_inputs(plan), seed=1, cond_tokens=None)
    assert seen["text_encoder"]["text_encoder"] == "gpu:fake" and seen["text_encoder"]["planner"] == "cpu"
    assert seen["transformer"]["transformer"] == seen["transformer"]["vae"] == "gpu:fake"
    assert seen["transformer"]["text_encoder"] == "cpu", "the text encoder leaves once the prompt is encoded"
    assert moves == [
        ("planner", "gpu:fake"),
        ("planner", "cpu"),
        ("text_encoder", "gpu:fake"),
        ("text_encoder", "cpu"),
        ("transformer", "gpu:fake"),
        ("vae", "gpu:fake"),
    ]


def test_a_budget_too_small_for_one_stage_is_a_clear_error(pipe):
    residency = Residency("gpu:fake", 2, mover=lambda m, d: None, size_of=lambda m: 5)
    residency.add("transformer", pipe.transformer)
    with pytest.raises(Exception, match="more than the .* memory budget; use --offload model"):
        residency.acquire("transformer")


def test_group_offload_is_diffusers_own(monkeypatch, pipe):
    from unison_agent.models.vace_loader import place

    calls = []
    monkeypatch.setattr(type(pipe), "enable_group_offload", lambda self, **kw: calls.append(kw))
    place(pipe, "group", torch.device("cuda"))
    (kw,) = calls
    assert kw["offload_type"] == "block_level" and kw["onload_device"] == torch.device("cuda")
    assert kw["offload_device"] == torch.device("cpu") and kw["num_blocks_per_group"] == 1


def test_compile_compiles_the_repeated_blocks_and_is_recorded(monkeypatch, s2_settings, s2_media, tmp_path):
    from diffusers import WanVACETransformer3DModel

    calls = []
    monkeypatch.setattr(WanVACETransformer3DModel, "compile_repeated_blocks", lambda self, **kw: calls.append(kw))
    res = generate(
        make_plan("text_to_image", s2_media),
        s2_settings.replace(compile=True),
        out_dir=tmp_path,
        seed=1,
        cond_tokens=None,
    )
    assert calls == [{"fullgraph": True}]
    assert json.loads(res.sidecars[0].read_text())["compile"] is True


def test_fast_mode_caches_steps_for_that_call_only(monkeypatch, s2_settings, s2_media, tmp_path):
    from diffusers import WanVACETransformer3DModel
    from diffusers.hooks import FirstBlockCacheConfig

    events = []
    enable, disable = WanVACETransformer3DModel.enable_cache, WanVACETransformer3DModel.disable_cache
    monkeypatch.setattr(
        WanVACETransformer3DModel, "enable_cache", lambda self, config: (events.append(config), enable(self, config))[1]
    )
    monkeypatch.setattr(
        WanVACETransformer3DModel, "disable_cache", lambda self: (events.append("off"), disable(self))[1]
    )
    fast = s2_settings.replace(fast=True, steps=4)
    res = generate(make_plan("text_to_video", s2_media), fast, out_dir=tmp_path, seed=1, cond_tokens=None)
    assert isinstance(events[0], FirstBlockCacheConfig) and events[0].threshold == fast.fast_threshold
    assert events[1:] == ["off"], "the shared transformer is left without the cache hook"
    side = json.loads(res.sidecars[0].read_text())
    assert side["fast"] == {"cache": "first_block", "threshold": fast.fast_threshold} and side["num_frames"] == 9
    plain = generate(make_plan("text_to_video", s2_media), s2_settings, out_dir=tmp_path, seed=1, cond_tokens=None)
    assert json.loads(plain.sidecars[0].read_text())["fast"] is None


def test_the_flags_set_the_settings(monkeypatch, tmp_path):
    from unison_agent.cli import build_parser, settings_from_args

    monkeypatch.setenv("UNISON_HOME", str(tmp_path))
    args = build_parser().parse_args(["run", "--offload", "group", "--vram-budget", "12", "--compile", "--fast", "x"])
    s = settings_from_args(args)
    assert (s.offload, s.vram_budget, s.compile, s.fast) == ("group", 12.0, True, True)


def test_flash_attn_when_installed_on_cuda_else_sdpa(monkeypatch, s2_settings, s2_media, tmp_path):
    from diffusers import WanVACETransformer3DModel

    import unison_agent.models.registry as models

    chosen = []
    monkeypatch.setattr(WanVACETransformer3DModel, "set_attention_backend", lambda self, name: chosen.append(name))
    res = generate(make_plan("text_to_image", s2_media), s2_settings, out_dir=tmp_path, seed=1, cond_tokens=None)
    assert chosen == [] and json.loads(res.sidecars[0].read_text())["attention"] == "sdpa"
    monkeypatch.setattr(models, "pick_attention", lambda settings, device: "flash_attention_2")
    res = generate(
        make_plan("text_to_image", s2_media), s2_settings.replace(shift=4.0), out_dir=tmp_path, seed=1, cond_tokens=None
    )
    assert chosen == ["flash"] and json.loads(res.sidecars[0].read_text())["attention"] == "flash-attn"
