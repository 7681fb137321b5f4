"""A tiny, randomly initialised Wan2.1-VACE pipeline in the published diffusers layout.

``build_tiny_vace(root)`` writes ``root/"vace"`` exactly like ``Wan-AI/Wan2.1-VACE-1.3B-diffusers``
(``model_index.json``, ``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), so the
real loader (:func:`unison_agent.models.vace_loader.load_vace`) reads it back through ``from_pretrained``.
Sizes follow diffusers' own tests: 2 heads x 12 dims, 2 layers, text width 32 (the stage-one kit's tiny
projector maps 64 -> 32), a 3-channel-base VAE with the real strides (4, 8, 8) and 16 latent channels; the
rotary table is the published one (``rope_max_seq_len`` 1024), so every size the real model takes works here.
The weights are random except that the cross-attention attends to the context's content rather than its zero padding,
as a trained Wan does (:func:`_attend_to_content`), so the prompt and the projector's rows steer the output.
"""

from __future__ import annotations

import string
from pathlib import Path

TEXT_DIM = 32
"""Width of the tiny umT5 encoder and of the tiny transformer's text input (the real one is 4096)."""

ROPE_MAX_SEQ_LEN = 1024
"""The published transformer's ``rope_max_seq_len`` (diffusers' ``WanVACETransformer3DModel`` default, which the
Wan2.1-VACE-1.3B-diffusers config keeps): rotary tables for up to 1024 latent positions per axis, so the tiny kit
accepts every size the real model accepts (32, the value of diffusers' own tests, fails past 512 px: 480P/720P)."""

CROSS_ATTN_QK_GAIN = 3.0
"""The tiny transformer's cross-attention q/k RMSNorm weights (1.0 at diffusers' init): see
:func:`_attend_to_content`."""

_MARKER = ".tiny-vace-complete"
_VERSION = "3"
"""Bumped whenever the kit's shapes or weights change: a kit on disk with another stamp (or none) is rebuilt.
1: rope_max_seq_len 32; 2: rope_max_seq_len 1024; 3: cross-attention attends to content (:func:`_attend_to_content`)."""


def _tokenizer_vocab() -> list[tuple[str, float]]:
    """A Unigram vocabulary (piece, log-prob) covering ASCII, the Chinese of Wan's negative prompt and some words."""
    from unison_agent.prompts import read_prompt

    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces: list[str] = ["▁"]
    words = (
        "a the of and in on with to is cat dog bird man woman video image frame make create edit "
        "replace turn into red blue green sky sea walk run fly style photo picture this that"
    ).split()
    pieces += ["▁" + w for w in words]
    pieces += [c for c in string.ascii_letters + string.digits + string.punctuation]
    pieces += ["▁" + c for c in string.ascii_letters + string.digits]
    cjk = sorted({c for c in read_prompt("wan_negative.txt") if ord(c) > 127})
    pieces += cjk
    seen: set[str] = set()
    vocab = list(specials)
    for i, p in enumerate(pieces):
        if p in seen:
            continue
        seen.add(p)
        # longer pieces are likelier, so whole words win over letter sequences
        vocab.append((p, -10.0 + len(p) - 0.001 * i))
    return vocab


def _attend_to_content(transformer) -> None:
    """Give the untrained tiny transformer what a trained Wan has: cross-attention on the context's content rows.

    Wan's cross-attention is unmasked and the method's context is 2048 positions, nearly all zero padding. At
    diffusers' random init the attention is near uniform, so the padding took 99.5 % of it and neither the prompt's
    umT5 rows nor the projector's 4 rows changed the output: 4 context rows optimised directly as free parameters
    (60 Adam steps) moved the flow-matching loss by 0.05 %, and the projector could not learn. A trained Wan is
    steered by its prompt, so the kit builds that in: a zero (padding) row gets a zero key and a zero value (the
    text embedder's and the cross-attention's key/value biases are zero), and the cross-attention's q/k RMSNorm
    weights are :data:`CROSS_ATTN_QK_GAIN`, which makes the logits 9x sharper than at init, so content rows win the
    softmax over the padding (measured on a 4-token prompt + 4 projector rows: 90 %, 29 % and 91 % of the
    attention in the three cross-attention layers, against 0.4-0.5 % before; the 4 free rows then lower the loss
    by 13 % in 60 steps).
    """
    import torch

    with torch.no_grad():
        embedder = transformer.condition_embedder.text_embedder
        embedder.linear_1.bias.zero_()
        embedder.linear_2.bias.zero_()
        for name, module in transformer.named_modules():
            if name.endswith("attn2"):  # every block's and every VACE block's cross-attention
                module.to_k.bias.zero_()
                module.to_v.bias.zero_()
                module.norm_q.weight.fill_(CROSS_ATTN_QK_GAIN)
                module.norm_k.weight.fill_(CROSS_ATTN_QK_GAIN)


def build_tiny_vace(root: Path) -> dict[str, str]:
    """Write a tiny Wan2.1-VACE pipeline to ``root/"vace"`` once (idempotent) and return ``{"vace": path}``."""
    root = Path(root)
    target = root / "vace"
    marker = target / _MARKER
    if marker.exists() and marker.read_text().strip() == _VERSION:
        return {"vace": str(target)}

    import shutil

    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel

    if target.exists():  # an older kit (another stamp) or a half-written one: start clean
        shutil.rmtree(target)
    from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    tokenizer = T5Tokenizer(vocab=_tokenizer_vocab(), extra_ids=0)
    tokenizer.model_max_length = 2048

    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            relative_attention_max_distance=32,
            feed_forward_proj="gated-gelu",
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    ).eval()

    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=ROPE_MAX_SEQ_LEN,
        vace_layers=[0],
        vace_in_channels=96,
    ).eval()
    _attend_to_content(transformer)

    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    ).eval()

    # The published scheduler config (flow UniPC, shift 3.0); the loader sets the method's shift (5.0).
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=3.0,
    )

    pipe = WanVACEPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
    )
    target.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(target, safe_serialization=True)
    marker.write_text(_VERSION)
    return {"vace": str(target)}
