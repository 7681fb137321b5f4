"""A tiny Qwen2.5-VL-Instruct, a Unison-style planning LoRA for it, the merged planner and a projector.

``build_tiny_qwen(root)`` writes, in the published on-disk layouts and with random weights:

- ``root/qwen``: a base Instruct checkpoint (``config.json`` with tied embeddings as published,
  ``model.safetensors``, a byte-level BPE tokenizer with Qwen's special tokens, image + video processor
  configs and a Qwen2-VL-style chat template);
- ``root/unison``: a PEFT LoRA adapter (``adapter_config.json``, ``adapter_model.safetensors``) made
  against the base with the fourteen Unison tokens added in the published order and taught a handful of
  planning answers (``PLANNING_EXAMPLES``, a few seconds of training), the tokenizer it was made with, and
  ``projector.pth`` with the released key layout;
- ``root/planner-merged``: the adapter merged into the base, ``tie_word_embeddings`` false.

It is idempotent: a marker file makes the second call instant. Everything is loaded back by the real
``from_pretrained`` paths (see :mod:`unison_agent.models.qwen_loader`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from unison_agent.contract.protocol import UNISON_TOKENS

TEXT_HIDDEN = 64
PROJECTOR_HIDDEN = 64
PROJECTOR_OUT = 32  # the tiny umT5 / tiny Wan text_dim
MARKER = ".tiny-qwen-complete"
VERSION = "5"

# Qwen2.5-VL's special tokens, in the published order (ids follow the ordinary vocabulary).
QWEN_SPECIALS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# A Qwen2-VL-style chat template (default system message, image/video placeholders, generation prompt).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = """
Make a video of a cat playing piano in a jazz bar, 5 seconds, 832x480. Create an image of a red fox in the snow.
Edit the photo: replace the bird with a parrot, use the mask. Animate this image as the first frame of a video.
Use the picture as the last frame. Generate a portrait of this person in the style of an oil painting.
Follow the pose in this clip; use the depth map as a control signal. What is in this image? Describe the video.
Summarise the story. How many people are there? Answer the question about the text. width height frames fps
seconds second minute long short wide tall square landscape portrait 1280 720 1024 576 512 480 832 81 49 17 16
The quick brown fox jumps over the lazy dog. Hello, world! Yes, no, maybe. {"task": "text_to_video", "prompt":
"a", "inputs": [], "width": 832, "height": 480, "num_frames": 81, "fps": 16, "frame_anchor": null, "control":
null, "path": "x.png", "kind": "image", "role": "source"} mask reference frame control context first last pose
depth canny gray flow scribble ready true false null 0123456789 ,.;:!?()[]{}<>"'-_/\\ image video text
"""

# Planner JSON, frequent enough that its keys and values become single tokens (short constrained answers).
_JSON_CORPUS = (
    " ".join(
        f'{{"task": "{t}", "width": 832, "height": 480, "num_frames": 81, "frame_anchor": null, "control": null, '
        '"roles": ["source", "mask", "reference", "frame", "control", "context"]}'
        for t in (
            "text_understanding",
            "image_understanding",
            "video_understanding",
            "text_to_image",
            "image_reference",
            "image_control",
            "image_edit",
            "text_to_video",
            "image_to_video",
            "video_reference",
            "video_control",
            "video_edit",
        )
    )
    + ' "first" "last" "pose" "depth" "canny" "gray" "flow" "scribble" "ready"'
)


# What the tiny planning LoRA is taught (a few steps, seconds): planning prompts -> the Unison token protocol.
# The merged planner and base + adapter reproduce these answers under greedy decoding.
PLANNING_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("make a video of a cat", "<CFV><BORES>832,480<EORES><BONF>80<EONF>"),
    ("draw a red fox in the snow", "<CFI><BORES>832,480<EORES>"),
    ("animate <IMGPAD> as the first frame", "<CFV><BORES>832,480<EORES><BONF>80<EONF><BOFIDX>0<EOFIDX>"),
    ("use <IMGPAD> as the last frame of a video", "<CFV><BORES>832,480<EORES><BONF>80<EONF><BOFIDX>80<EOFIDX>"),
    ("replace the dog in <IMGPAD> using the mask <IMGPAD>", "<CFI><BORES>832,480<EORES><BOEDIT>1,0<EOEDIT>"),
    ("a portrait of the person in <IMGPAD> as a knight", "<CFI><BORES>832,480<EORES><REF>"),
    ("follow the pose in <VIDPAD> to make a robot dance", "<CFV><BORES>832,480<EORES><BONF>80<EONF><CTRL>"),
    ("what is the capital of France?", "Paris."),
)
TRAIN_STEPS = 80


def build_tiny_qwen(root: Path) -> dict[str, str]:
    """Build (once) the tiny base, adapter (+ projector) and merged planner under ``root``.

    Returns Settings overrides: ``{"qwen": ..., "unison": ..., "planner_merged": ...}``.
    """
    root = Path(root)
    dirs = {"qwen": root / "qwen", "unison": root / "unison", "planner_merged": root / "planner-merged"}
    marker = root / MARKER
    if marker.is_file() and marker.read_text().strip() == VERSION and all(d.is_dir() for d in dirs.values()):
        return {k: str(v) for k, v in dirs.items()}

    import torch

    root.mkdir(parents=True, exist_ok=True)
    for d in dirs.values():
        if d.exists():
            shutil.rmtree(d)
    torch.manual_seed(0)
    tokenizer = _build_tokenizer()
    processor = _build_processor(tokenizer)
    base = _build_base_model(tokenizer)
    base.save_pretrained(dirs["qwen"])
    processor.save_pretrained(dirs["qwen"])

    peft_model, unison_processor = _build_adapter(dirs["qwen"])
    peft_model.save_pretrained(dirs["unison"])
    unison_processor.save_pretrained(dirs["unison"])
    torch.save(_projector_state_dict(), dirs["unison"] / "projector.pth")

    merged = peft_model.merge_and_unload()
    _untie_config(merged.config)
    merged.save_pretrained(dirs["planner_merged"])
    unison_processor.save_pretrained(dirs["planner_merged"])

    marker.write_text(VERSION)
    return {k: str(v) for k, v in dirs.items()}


# ----------------------------------------------------------------------------------------------------------
# pieces


def _build_tokenizer(pad_to: int | None = None, specials: tuple[str, ...] = QWEN_SPECIALS):
    """A byte-level BPE trained on a small corpus, wrapped as Qwen2Tokenizer, with Qwen's special tokens.

    ``pad_to``: fill the ordinary vocabulary with unreachable ``<unusedN>`` entries up to this size, so the
    ``specials`` get their published ids (the published-shape kit passes all 22 of them)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    from unison_agent.prompts import read_prompt

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=2048, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    prompts = [read_prompt("planner_qwen.txt"), read_prompt("understanding_system.txt")]
    bpe.train_from_iterator([_CORPUS] * 4 + [_JSON_CORPUS] * 40 + prompts * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(state["vocab"])
    i = 0
    while pad_to is not None and len(vocab) < pad_to:  # fillers no merge produces (never emitted for any text)
        vocab.setdefault(f"<unused{i}>", len(vocab))
        i += 1
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, errors="replace")
    tok.add_tokens(list(specials), special_tokens=True)
    tok.eos_token = "<|im_end|>"
    tok.pad_token = "<|endoftext|>"
    tok.unk_token = None
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _build_processor(tokenizer):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 28 * 28, "longest_edge": 28 * 28 * 16})
    video_processor = Qwen2VLVideoProcessor(size={"shortest_edge": 28 * 28, "longest_edge": 28 * 28 * 8})
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def _config(tokenizer):
    from transformers import Qwen2_5_VLConfig

    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_HIDDEN,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=0.2,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=ids("<|endoftext|>"),
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=4,
        out_hidden_size=TEXT_HIDDEN,
        fullatt_block_indexes=[1],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        tokens_per_second=2,
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def _build_base_model(tokenizer):
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration(_config(tokenizer)).eval()
    ids = tokenizer.convert_tokens_to_ids
    model.generation_config = GenerationConfig(
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=[ids("<|im_end|>"), ids("<|endoftext|>")],
        pad_token_id=ids("<|endoftext|>"),
        do_sample=False,
    )
    return model


def _build_adapter(base_dir: Path):
    """Load the base the way the loader does (tokens added, resized, untied), wrap it in a LoRA, randomise it."""
    import torch
    from peft import LoraConfig, get_peft_model

    from unison_agent.models.qwen_loader import add_unison_tokens, load_base_model, prepare_for_adapter

    processor = _load_processor(base_dir)
    add_unison_tokens(processor.tokenizer)
    model = load_base_model(base_dir, device=torch.device("cpu"), dtype=torch.float32, attn="sdpa")
    prepare_for_adapter(model, len(processor.tokenizer))
    token_ids = processor.tokenizer.convert_tokens_to_ids(list(UNISON_TOKENS))
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj"],
        trainable_token_indices={"embed_tokens": token_ids},
        modules_to_save=["lm_head"],
    )
    peft_model = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "trainable_tokens_delta" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.05)
            elif "modules_to_save" in name:
                param.add_(torch.randn(param.shape, generator=gen) * 0.01)
    _teach(peft_model, processor)
    peft_model.eval()
    return peft_model, processor


def _teach(peft_model, processor) -> None:
    """A few Adam steps on PLANNING_EXAMPLES (loss on the answers only), on one thread, deterministically."""
    import torch

    tok = processor.tokenizer
    rows = []
    for prompt, answer in PLANNING_EXAMPLES:
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        p = tok(text, add_special_tokens=False)["input_ids"]
        a = tok(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        rows.append((p, a))
    length = max(len(p) + len(a) for p, a in rows)
    ids = torch.full((len(rows), length), tok.pad_token_id)
    labels = torch.full((len(rows), length), -100)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, (p, a) in enumerate(rows):
        ids[i, : len(p) + len(a)] = torch.tensor(p + a)
        labels[i, len(p) : len(p) + len(a)] = torch.tensor(a)
        mask[i, : len(p) + len(a)] = 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(3)
        params = [q for q in peft_model.parameters() if q.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-2)
        peft_model.train()
        for _ in range(TRAIN_STEPS):
            loss = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
        peft_model.eval()


def _load_processor(path: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(path))


def _untie_config(config) -> None:
    config.tie_word_embeddings = False
    text = getattr(config, "text_config", None)
    if text is not None:
        text.tie_word_embeddings = False


def _projector_state_dict() -> dict:
    """A tiny projector state dict with the released keys (saved with the ``module.`` prefix, as DDP does)."""
    import torch

    from unison_agent.models.projector import ProjMLP

    torch.manual_seed(2)
    proj = ProjMLP(input_dim=TEXT_HIDDEN, hidden_dim=PROJECTOR_HIDDEN, out_dim=PROJECTOR_OUT)
    return {f"module.{k}": v.clone() for k, v in proj.state_dict().items()}
