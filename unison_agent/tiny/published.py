"""The published-shape kit: every model at its published configuration except depth, random weights.

``build_published_kit(root)`` writes, in the published on-disk layouts, models whose every width, head count,
rotary setting and special-token id is the published one, with ONE layer each (one transformer block, one
VACE block, one umT5 block, one Qwen decoder layer and one vision block) and random weights:

- ``root/qwen``: Qwen2.5-VL-3B-Instruct (``config.json`` with tied embeddings and bf16 as published,
  ``model.safetensors``, a byte-level BPE tokenizer whose special tokens have the published ids, the
  published image/video processor settings);
- ``root/unison``: a Unison-style LoRA adapter against it (the fourteen Unison tokens added after the
  published specials, so at ids 151665..151678 inside the published 151936 embedding rows: no resize) and
  ``projector.pth`` 2048 -> 2048 -> 4096, 56 -> 4 with the released key layout (``module.`` prefixed);
- ``root/vace``: Wan2.1-VACE-1.3B in the diffusers layout (``model_index.json``, ``transformer/``, ``vae/``,
  ``text_encoder/``, ``tokenizer/``, ``scheduler/``): the DiT at dim 1536 (12 x 128), ffn 8960, text dim 4096,
  rope 1024, a VACE block with 96 input channels; the Wan VAE exactly as published (all of it: it has no
  "depth" to cut); a umT5-XXL-wide encoder (d_model 4096, 64 heads x 64, d_ff 10240).

Where each number comes from (none is made up):
- Qwen2.5-VL-3B-Instruct ``config.json`` on the hub (as quoted in several public repositories; cross-checked
  with the module dump of the 3B vision tower, merger 5120 -> 2048) and the project's DESIGN.md "Real sizes";
  tokenizer special-token ids from its ``tokenizer_config.json`` ``added_tokens_decoder`` (151643..151664).
- Wan2.1-VACE-1.3B: the "Wan-VACE-1.3B" entry of diffusers' ``scripts/convert_wan_to_diffusers.py``
  (dim 12 x 128, ffn 8960, freq 256, text 4096, eps 1e-6, qk rms_norm_across_heads, cross-attn norm,
  VACE layers 0, 2, ..., 28, 96 VACE channels); ``rope_max_seq_len`` is not in that entry, so it is
  ``WanVACETransformer3DModel``'s default, 1024, as in the published config.
- The VAE: the same script builds ``AutoencoderKLWan()`` with its defaults and loads the published weights
  strictly, so the defaults *are* the published VAE (base 96, z 16, dims x[1, 2, 4, 4], 2 res blocks,
  temporal downsampling [False, True, True], the published latents mean/std).
- umT5-XXL: ``google/umt5-xxl`` ``config.json`` (the conversion script loads the text encoder from it):
  d_model 4096, d_kv 64, d_ff 10240, 64 heads, 32 relative buckets, max distance 128, gated-gelu, eps 1e-6,
  vocab 256384.
- The scheduler: flow UniPC with the published shift 3.0 (the loader sets the method's 5.0), as the tiny kit.
- The projector: the released module's sizes (see :mod:`unison_agent.models.projector`).

- The image processor: the published ``preprocessor_config.json``'s ``min_pixels`` 3,136 and ``max_pixels``
  12,845,056 (:data:`QWEN_IMAGE_PIXELS`), so understanding sees images as the published processor does; the rest
  of it (patch 14, merge 2, temporal patch 2, the CLIP mean/std, bicubic) is the class default, which is published.
- The planner's generation config: the published ``generation_config.json``'s ids and decoding values
  (:data:`QWEN_GENERATION`): ``repetition_penalty`` 1.05, ``top_k`` 1, ``top_p`` 0.001 with sampling on, which
  with ``top_k`` 1 is greedy decoding (what the planner and understanding ask for anyway, ``do_sample=False``;
  the repetition penalty applies either way). The published file's ``temperature`` is not copied: under ``top_k``
  1 it changes nothing, and its value could not be checked from here.

Every remaining difference from the published checkpoints, each because of cost or because the original is not
reachable from here (measured on a 2-core CI machine, see the test module):
- Depth: one layer per stack, as the smoke test asks; ``vace_layers=[0]`` (the published list cut to depth 1).
  :data:`FULL_DEPTH` builds the published depths (bfloat16) for GPU benchmarks.
- umT5's vocabulary: the embedding is sized to this kit's small Unigram tokenizer instead of 256384 rows
  (256384 x 4096 floats are 4.2 GB in float32: minutes to write and read on CI). The vocabulary only sizes
  the input lookup table; everything downstream sees d_model 4096, which is published. Qwen keeps the
  published 151936 rows, because its token ids matter: the config names image/video/vision ids, and the
  Unison tokens must land inside the published rows without a resize.
- Qwen's tokenizer: a small trained BPE padded with unreachable filler entries to 151643 ordinary tokens,
  so every special token has its published id (the real vocabulary is not reachable from here); the video
  processor keeps the class defaults.
- The LoRA's layout: the released Unison adapter was trained with LLaMA-Factory and its rank, targets and saved
  modules are not published in a form reachable from here; this kit's adapter is a PEFT LoRA of rank 8 on
  ``q_proj``/``v_proj`` with the fourteen token rows as ``trainable_token_indices`` (random values), in the
  adapter form a user downloads (no merged planner: it would add another 1.9 GB).
- Qwen is written in bfloat16 (its published ``torch_dtype``); the rest in float32 (the loaders pick the
  compute dtype; on CPU everything runs in float32).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from unison_agent.tiny.qwen import QWEN_SPECIALS as TINY_QWEN_SPECIALS

MARKER = ".published-kit-complete"
VERSION = "2"
"""Bumped whenever a shape or a config here changes: a kit with another stamp is removed and rebuilt.
1: first; 2: the published image-processor pixel limits and generation config."""

LAYERS = 1
SMOKE_DEPTH = {"qwen_text": LAYERS, "qwen_vision": LAYERS, "umt5": LAYERS, "wan": LAYERS}
FULL_DEPTH = {"qwen_text": 36, "qwen_vision": 32, "umt5": 24, "wan": 30}
"""The published depths (Qwen2.5-VL-3B: 36 text layers, 32 vision blocks; umT5-XXL encoder: 24 layers;
Wan2.1-VACE-1.3B: 30 layers, VACE blocks at 0, 2, ..., 28): for benchmarks on a GPU (``benchmarks/bench_request.py``)."""

# Qwen2.5-VL-3B-Instruct config.json (published)
QWEN_TEXT = dict(
    hidden_size=2048,
    intermediate_size=11008,
    num_attention_heads=16,
    num_key_value_heads=2,
    max_position_embeddings=128000,
    rms_norm_eps=1e-6,
    vocab_size=151936,
    hidden_act="silu",
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    use_sliding_window=False,
    sliding_window=32768,
    attention_dropout=0.0,
    initializer_range=0.02,
    bos_token_id=151643,
    eos_token_id=151645,
)
QWEN_VISION = dict(
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    out_hidden_size=2048,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    fullatt_block_indexes=[7, 15, 23, 31],
    tokens_per_second=2,
    hidden_act="silu",
    in_channels=3,
)
QWEN_TOKEN_IDS = dict(
    image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653
)
# tokenizer_config.json added_tokens_decoder, ids 151643..151664 in this order
QWEN_SPECIALS: tuple[str, ...] = TINY_QWEN_SPECIALS + (  # the tiny kit's 14, then the rest of the published 22
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
QWEN_FIRST_SPECIAL = 151643
# preprocessor_config.json (published): the pixel limits of one image
QWEN_IMAGE_PIXELS = dict(min_pixels=3136, max_pixels=12845056)
# generation_config.json (published), less its temperature (see the module docstring)
QWEN_GENERATION = dict(
    bos_token_id=151643,
    pad_token_id=151643,
    eos_token_id=[151645, 151643],
    do_sample=True,
    repetition_penalty=1.05,
    top_k=1,
    top_p=0.001,
)

# diffusers scripts/convert_wan_to_diffusers.py, "Wan-VACE-1.3B" (+ the class default rope_max_seq_len 1024)
WAN_TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
    vace_in_channels=96,
    added_kv_proj_dim=None,
)
WAN_VACE_LAYERS_PUBLISHED = list(range(0, 30, 2))

# google/umt5-xxl config.json
UMT5_XXL = dict(
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    dropout_rate=0.1,
)
UMT5_XXL_VOCAB = 256384  # published; not used (see the module docstring)

PROJECTOR = dict(input_dim=2048, hidden_dim=2048, out_dim=4096)  # the released projector.pth


def build_published_kit(root: Path, depth: dict[str, int] | None = None) -> dict[str, str]:
    """Build (once; a version stamp makes later calls instant) the published-shape kit under ``root``.

    ``depth``: layers per stack (:data:`SMOKE_DEPTH`, one each, by default; :data:`FULL_DEPTH` for the published
    models' full size, written in bfloat16). Returns Settings overrides ``{"qwen": ..., "unison": ..., "vace": ...}``
    (no merged planner: the adapter form is what a user downloads, and a merged copy would add another 1.9 GB).
    """
    root = Path(root)
    depth = dict(depth or SMOKE_DEPTH)
    dirs = {"qwen": root / "qwen", "unison": root / "unison", "vace": root / "vace"}
    marker = root / MARKER
    stamp = VERSION if depth == SMOKE_DEPTH else f"{VERSION} {json.dumps(depth, sort_keys=True)}"
    if marker.is_file() and marker.read_text().strip() == stamp and all(d.is_dir() for d in dirs.values()):
        return {k: str(v) for k, v in dirs.items()}

    import torch

    root.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for d in dirs.values():
        if d.exists():
            shutil.rmtree(d)
    torch.manual_seed(0)
    _build_qwen(dirs["qwen"], dirs["unison"], depth["qwen_text"], depth["qwen_vision"])
    _build_vace(dirs["vace"], depth["umt5"], depth["wan"], half=depth != SMOKE_DEPTH)
    marker.write_text(stamp)
    return {k: str(v) for k, v in dirs.items()}


# ---------------------------------------------------------------------------------------------------------- Qwen


def _build_qwen_tokenizer():
    """The tiny kit's tokenizer padded with unreachable fillers so the specials get their published ids."""
    from unison_agent.tiny.qwen import _build_tokenizer

    tok = _build_tokenizer(pad_to=QWEN_FIRST_SPECIAL, specials=QWEN_SPECIALS)
    ids = tok.convert_tokens_to_ids(list(QWEN_SPECIALS))
    assert ids == list(range(QWEN_FIRST_SPECIAL, QWEN_FIRST_SPECIAL + len(QWEN_SPECIALS))), ids
    return tok


def _build_qwen(base_dir: Path, unison_dir: Path, text_layers: int = LAYERS, vision_layers: int = LAYERS) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from unison_agent.models.qwen_loader import add_unison_tokens

    tokenizer = _build_qwen_tokenizer()
    processor = qwen_processor(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={**QWEN_TEXT, "num_hidden_layers": text_layers, "pad_token_id": None},
        vision_config={**QWEN_VISION, "depth": vision_layers},
        tie_word_embeddings=True,
        **QWEN_TOKEN_IDS,
    )
    with torch.device("cpu"):
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = qwen_generation_config()
    model.to(torch.bfloat16).save_pretrained(base_dir)
    save_qwen_settings(base_dir, processor)

    # the adapter: made against the base the way the loader prepares it (tokens added; no resize needed)
    token_ids = add_unison_tokens(processor.tokenizer)
    assert token_ids[-1] < QWEN_TEXT["vocab_size"], token_ids
    model = model.float()
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj"],
        trainable_token_indices={"embed_tokens": token_ids},
    )
    peft_model = get_peft_model(model, lora)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "trainable_tokens_delta" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    peft_model.save_pretrained(unison_dir)
    processor.save_pretrained(unison_dir)
    torch.save(_projector_state_dict(), unison_dir / "projector.pth")
    del peft_model, model


def qwen_processor(tokenizer):
    """The planner's processor: the published image processor (its pixel limits, :data:`QWEN_IMAGE_PIXELS`; the
    class defaults are the published patch, merge and normalisation), the class-default video processor, Qwen's
    chat template."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from unison_agent.tiny.qwen import CHAT_TEMPLATE

    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**QWEN_IMAGE_PIXELS),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def qwen_generation_config():
    """The published ``generation_config.json`` values (:data:`QWEN_GENERATION`)."""
    from transformers import GenerationConfig

    return GenerationConfig(**QWEN_GENERATION)


def save_qwen_settings(target: Path, processor) -> None:
    """Write the planner's processor files and ``generation_config.json`` into ``target`` (the kit's ``qwen/``)."""
    processor.save_pretrained(target)
    qwen_generation_config().save_pretrained(target)


def _projector_state_dict() -> dict:
    import torch

    from unison_agent.models.projector import ProjMLP

    torch.manual_seed(2)
    proj = ProjMLP(**PROJECTOR)
    return {f"module.{k}": v.clone() for k, v in proj.state_dict().items()}


# ---------------------------------------------------------------------------------------------------------- Wan


def _build_vace(target: Path, umt5_layers: int = LAYERS, wan_layers: int = LAYERS, *, half: bool = False) -> None:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

    from unison_agent.tiny.wan import _tokenizer_vocab

    tokenizer = T5Tokenizer(vocab=_tokenizer_vocab(), extra_ids=0)
    tokenizer.model_max_length = 2048
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            num_layers=umt5_layers,
            **UMT5_XXL,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    transformer = WanVACETransformer3DModel(
        **WAN_TRANSFORMER,
        num_layers=wan_layers,
        vace_layers=[i for i in WAN_VACE_LAYERS_PUBLISHED if i < wan_layers],
    ).eval()
    if half:  # full depth: umT5-XXL alone is ~23 GB in float32; Wan ships the text encoder in bfloat16 too
        text_encoder.to(torch.bfloat16)
        transformer.to(torch.bfloat16)
    vae = AutoencoderKLWan().eval()  # the published VAE is the class default (see the module docstring)
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )
    with torch.no_grad():
        pipe = WanVACEPipeline(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
        )
        pipe.save_pretrained(target, safe_serialization=True)
