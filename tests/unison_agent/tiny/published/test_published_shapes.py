"""Published-shape smoke test (issue 10, point 10): the published configurations, one layer each, random weights.

Every width, head count, rotary setting, channel count and special-token id is the published one, so a shape
mismatch anywhere between the planner, the projector, umT5, the VACE transformer and the VAE fails here instead
of on a user's GPU. Models are written in the published layouts and read back by the project's own loaders;
generation goes through ``Session`` (rules planner, one denoising step) with the projector tokens in the umT5
context, checked where they reach ``WanVACEPipeline.__call__``.

Cost (2 CPU cores): the Wan VAE at its published widths dominates (full resolution, 96-384 channels; about
20 s per 256x256 image and a minute per 256x256x5 clip for its two encodes and one decode). CI runs the
``quick`` set below; every generation task at the issue's sizes (256x256, 5 frames; an 832x480 image; a
480x832 video edit) is marked ``heavy`` and runs with UNISON_RUN_HEAVY=1 (29 minutes measured on 2 shared cores, seconds
on a GPU).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from unison_agent.media.files import read_image, read_video

from .conftest import TIMINGS

# ---------------------------------------------------------------------------------------------------------- kit


def _config(path: Path) -> dict:
    return json.loads(path.read_text())


def test_kit_is_written_in_the_published_layouts_and_shapes(published_kit):
    qwen, unison, vace = (Path(published_kit[k]) for k in ("qwen", "unison", "vace"))
    for f in ("config.json", "model.safetensors", "tokenizer_config.json"):
        assert (qwen / f).is_file(), f
    # transformers 5 writes the processor settings as processor_config.json (the hub has preprocessor_config.json)
    assert (qwen / "preprocessor_config.json").is_file() or (qwen / "processor_config.json").is_file()
    assert (qwen / "tokenizer.json").is_file() or (qwen / "vocab.json").is_file()
    for f in ("adapter_config.json", "adapter_model.safetensors", "projector.pth"):
        assert (unison / f).is_file(), f
    assert _config(vace / "model_index.json")["_class_name"] == "WanVACEPipeline"

    q = _config(qwen / "config.json")
    text = q.get("text_config", q)
    assert (text["hidden_size"], text["intermediate_size"], text["num_attention_heads"]) == (2048, 11008, 16)
    assert (text["num_key_value_heads"], text["vocab_size"], text["num_hidden_layers"]) == (2, 151936, 1)
    rope = text.get("rope_parameters") or text.get("rope_scaling")
    assert rope["mrope_section"] == [16, 24, 24] and rope["rope_theta"] == 1000000.0
    v = q["vision_config"]
    assert (v["hidden_size"], v["intermediate_size"], v["num_heads"], v["out_hidden_size"]) == (1280, 3420, 16, 2048)
    assert (v["patch_size"], v["spatial_merge_size"], v["window_size"], v["depth"]) == (14, 2, 112, 1)
    assert v["fullatt_block_indexes"] == [7, 15, 23, 31]
    assert (q["image_token_id"], q["video_token_id"], q["vision_start_token_id"]) == (151655, 151656, 151652)
    assert q.get("tie_word_embeddings", text.get("tie_word_embeddings")) is True

    t = _config(vace / "transformer" / "config.json")
    assert (t["num_attention_heads"], t["attention_head_dim"], t["ffn_dim"], t["text_dim"]) == (12, 128, 8960, 4096)
    assert (t["rope_max_seq_len"], t["vace_in_channels"], t["vace_layers"], t["num_layers"]) == (1024, 96, [0], 1)
    assert (list(t["patch_size"]), t["qk_norm"], t["cross_attn_norm"], t["freq_dim"]) == (
        [1, 2, 2],
        "rms_norm_across_heads",
        True,
        256,
    )
    e = _config(vace / "text_encoder" / "config.json")
    assert (e["d_model"], e["d_kv"], e["d_ff"], e["num_heads"], e["num_layers"]) == (4096, 64, 10240, 64, 1)
    a = _config(vace / "vae" / "config.json")
    assert (a["base_dim"], a["z_dim"], a["dim_mult"], a["num_res_blocks"]) == (96, 16, [1, 2, 4, 4], 2)
    assert a["temperal_downsample"] == [False, True, True]


def test_real_loaders_read_the_kit(published_settings):
    import torch

    from unison_agent.contract.protocol import UNISON_TOKENS
    from unison_agent.models.projector import projector_tokens
    from unison_agent.models.qwen_loader import load_planner
    from unison_agent.models.vace_loader import load_vace

    t0 = time.perf_counter()
    planner = load_planner(published_settings)
    TIMINGS["load planner (base + LoRA, 151936 x 2048 rows)"] = time.perf_counter() - t0
    assert planner.kind == "adapter" and planner.text_hidden_size == 2048
    assert planner.vocab_size == 151936  # the Unison tokens fit in the published rows: no resize
    assert planner.token_ids(UNISON_TOKENS) == list(range(151665, 151665 + len(UNISON_TOKENS)))
    t0 = time.perf_counter()
    tokens = projector_tokens(published_settings, "make a video of a cat")
    TIMINGS["projector tokens (first call)"] = time.perf_counter() - t0
    assert tokens.shape == (1, 4, 4096) and torch.isfinite(tokens).all()
    t0 = time.perf_counter()
    pipe = load_vace(published_settings)
    TIMINGS["load Wan2.1-VACE (umT5 4096, DiT 1536, VAE)"] = time.perf_counter() - t0
    assert pipe.text_encoder.config.d_model == 4096
    assert pipe.transformer.config.rope_max_seq_len == 1024
    assert pipe.vae.dtype == torch.float32


# ---------------------------------------------------------------------------------------------------------- Session


@pytest.fixture(scope="module")
def session(published_settings):
    from unison_agent.core.session import Session

    s = Session(published_settings, thread="published")
    yield s
    s.close()


S256 = {"width": 256, "height": 256}
V256 = {**S256, "num_frames": 5}
V128 = {"width": 128, "height": 128, "num_frames": 5}

# id, task, request (files by fixture key), overrides, expected (frames, height, width)
CASES = [
    ("text_to_image-256", "text_to_image", "make a picture of a red fox", S256, (1, 256, 256)),
    (
        "image_reference-256",
        "image_reference",
        "make a picture of this fox ###{fox}### on a beach",
        S256,
        (1, 256, 256),
    ),
    (
        "image_control-256",
        "image_control",
        "make an image of a robot following the depth map ###{depth}###",
        S256,
        (1, 256, 256),
    ),
    (
        "image_edit-256",
        "image_edit",
        "make the square blue in ###{fox}### using the mask ###{mask}###",
        S256,
        (1, 256, 256),
    ),
    ("text_to_video-256", "text_to_video", "make a 1-second video of a cat", V256, (5, 256, 256)),
    ("image_to_video-256", "image_to_video", "animate ###{fox}### for 1 second", V256, (5, 256, 256)),
    (
        "video_reference-256",
        "video_reference",
        "make a video of the fox ###{fox}### as a reference, running in a forest",
        V256,
        (5, 256, 256),
    ),
    (
        "video_control-256",
        "video_control",
        "make a video of a robot following the pose of ###{pose}###",
        V256,
        (5, 256, 256),
    ),
    (
        "video_edit-256",
        "video_edit",
        "make the square red in ###{clip}### using the mask ###{mask}###",
        V256,
        (5, 256, 256),
    ),
    (
        "text_to_image-832x480",
        "text_to_image",
        "make a picture of a red fox",
        {"width": 832, "height": 480},
        (1, 480, 832),
    ),
    (
        "video_edit-480x832",
        "video_edit",
        "make the square red in ###{tall_clip}### using the mask ###{tall_mask}###",
        {"width": 480, "height": 832, "num_frames": 5},
        (5, 832, 480),
    ),
]
QUICK = [
    # what CI runs by default: the whole stack once for an image and once for a clip with a source and a mask
    ("text_to_image-256", "text_to_image", "make a picture of a red fox", S256, (1, 256, 256)),
    (
        "video_edit-128x5",
        "video_edit",
        "make the square red in ###{clip}### using the mask ###{mask}###",
        V128,
        (5, 128, 128),
    ),
]


def _check_context(call, settings, prompt: str) -> None:
    """The context that reached diffusers: umT5(prompt) (n rows), the 4 projector rows, zeros up to 2048."""
    import torch

    from unison_agent.models.conditioning import prompt_token_count
    from unison_agent.models.projector import projector_tokens
    from unison_agent.models.vace_loader import load_vace

    embeds, negative = call["prompt_embeds"], call["negative_prompt_embeds"]
    assert tuple(embeds.shape) == (1, 2048, 4096) and tuple(negative.shape) == (1, 2048, 4096)
    n = prompt_token_count(load_vace(settings), prompt)
    expected = projector_tokens(settings, prompt)[0].to(embeds.dtype)
    torch.testing.assert_close(embeds[0, n : n + 4].cpu(), expected.cpu(), rtol=1e-4, atol=1e-4)
    assert embeds[0, :n].abs().sum() > 0 and embeds[0, n + 4 :].abs().sum() == 0


def _run(session, settings, vace_calls, media, case) -> None:
    name, task, request, overrides, (frames, height, width) = case
    t0 = time.perf_counter()
    r = session.send(request.format(**{k: str(v) for k, v in media.items()}), overrides=dict(overrides))
    TIMINGS[f"Session {name}"] = time.perf_counter() - t0
    assert r.ok, r.errors
    assert r.task == task
    (out,) = r.outputs
    if frames == 1:
        assert out.endswith(".png") and read_image(out).shape == (height, width, 3)
    else:
        video, fps = read_video(out)
        assert out.endswith(".mp4") and video.shape == (frames, height, width, 3) and fps == 16
    (call,) = vace_calls
    assert (call["width"], call["height"], call["num_frames"]) == (width, height, frames)
    assert call["num_inference_steps"] == 1
    sidecar = json.loads(Path(out).with_suffix(".json").read_text())
    assert sidecar["projector_tokens"] == [1, 4, 4096] and sidecar["context_len"] == 2048
    _check_context(call, settings, sidecar["plan"]["prompt"])
    for k in ("encode_s", "denoise_s", "decode_s"):
        TIMINGS[f"  {name} {k}"] = sidecar["timings"][k]


@pytest.mark.parametrize("case", QUICK, ids=[c[0] for c in QUICK])
def test_session_quick(case, session, published_settings, vace_calls, published_media):
    _run(session, published_settings, vace_calls, published_media, case)


@pytest.mark.heavy
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_session_every_task(case, session, published_settings, vace_calls, published_media):
    _run(session, published_settings, vace_calls, published_media, case)
