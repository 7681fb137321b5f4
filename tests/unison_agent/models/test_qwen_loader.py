"""The tiny kit's layout and the planner loader: tokens, untying, adapter == merged, errors, caching."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from unison_agent.contract.errors import WeightsError
from unison_agent.contract.protocol import UNISON_TOKENS
from unison_agent.models.qwen_loader import (
    add_unison_tokens,
    load_base_model,
    load_planner,
    prepare_for_adapter,
    weights_status,
)

CPU = torch.device("cpu")


def _ids(planner, text: str = "make a video of <IMGPAD> dancing"):
    messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
    return planner.processor.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )


def test_kit_layout_and_idempotence(tiny_root, tiny_qwen):
    from unison_agent.tiny.qwen import build_tiny_qwen

    start = time.perf_counter()
    assert build_tiny_qwen(tiny_root) == tiny_qwen
    assert time.perf_counter() - start < 0.5
    unison = Path(tiny_qwen["unison"])
    for name in ("adapter_config.json", "adapter_model.safetensors", "projector.pth"):
        assert (unison / name).is_file()
    base_cfg = json.loads((Path(tiny_qwen["qwen"]) / "config.json").read_text())
    merged_cfg = json.loads((Path(tiny_qwen["planner_merged"]) / "config.json").read_text())
    assert base_cfg["tie_word_embeddings"] is True  # as published
    assert merged_cfg["tie_word_embeddings"] is False
    assert merged_cfg["text_config"]["hidden_size"] == 64
    adapter_cfg = json.loads((unison / "adapter_config.json").read_text())
    assert adapter_cfg["peft_type"] == "LORA"
    assert set(adapter_cfg["target_modules"]) == {"q_proj", "v_proj"}


def test_chat_template_and_special_tokens(s1_settings):
    planner = load_planner(s1_settings, "base")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    text = planner.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n"
    )
    vocab = planner.tokenizer.get_vocab()
    for tok in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|video_pad|>"):
        assert tok in vocab
    assert "<CFI>" not in vocab  # the base has no Unison tokens


@pytest.mark.parametrize("mode", ["merged", "adapter"])
def test_unison_tokens_consecutive_in_published_order(s1_settings, tiny_qwen, mode):
    planner = load_planner(s1_settings, mode)
    ids = planner.token_ids()
    assert ids == list(range(ids[0], ids[0] + 14))
    assert planner.tokenizer.convert_ids_to_tokens(ids) == list(UNISON_TOKENS)
    assert planner.vocab_size >= ids[-1] + 1
    trained = json.loads((Path(tiny_qwen["unison"]) / "adapter_config.json").read_text())
    assert trained["trainable_token_indices"]["embed_tokens"] == ids
    # each token is one id, never split
    assert planner.tokenizer("<CFV><BORES>832,480<EORES>")["input_ids"][:2] == ids[1:3]


def test_adapter_and_merged_give_the_same_logits(s1_settings):
    merged = load_planner(s1_settings, "merged")
    adapter = load_planner(s1_settings, "adapter")
    adapter_merged = load_planner(s1_settings, "adapter", merge=True)
    base = load_planner(s1_settings, "base")
    assert (merged.kind, adapter.kind, base.kind) == ("merged", "adapter", "base")
    inputs = _ids(merged)
    with torch.no_grad():
        a = merged.model(**inputs).logits
        b = adapter.model(**inputs).logits
        c = adapter_merged.model(**inputs).logits
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a, c, atol=1e-4, rtol=1e-4)
    # the LoRA changes the model: the base gives other logits on text it can read
    plain = _ids(base, "make a video of a cat")
    with torch.no_grad():
        base_logits, merged_logits = base.model(**plain).logits, merged.model(**plain).logits
    assert not torch.allclose(base_logits, merged_logits[..., : base_logits.shape[-1]], atol=1e-3)


def test_untying_copies_the_embedding(tiny_qwen):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen["qwen"])
    before = len(tok)
    ids = add_unison_tokens(tok)
    assert ids[0] == before and len(tok) == before + 14
    model = load_base_model(Path(tiny_qwen["qwen"]), device=CPU, dtype=torch.float32, attn="sdpa")
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert head.weight.data_ptr() == embed.weight.data_ptr()  # tied as published
    old = embed.weight[:before].detach().clone()
    prepare_for_adapter(model, len(tok))
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert embed.weight.shape[0] == len(tok)
    assert head.weight.data_ptr() != embed.weight.data_ptr()
    torch.testing.assert_close(head.weight, embed.weight, atol=0, rtol=0)  # a copy, not a random matrix
    torch.testing.assert_close(embed.weight[:before], old, atol=0, rtol=0)
    # new rows are the mean of the old ones (deterministic)
    torch.testing.assert_close(embed.weight[before:], old.mean(0, keepdim=True).expand(14, -1))
    assert model.config.tie_word_embeddings is False and model.config.text_config.tie_word_embeddings is False


def test_merged_lm_head_is_loaded_not_initialised(s1_settings, tiny_qwen):
    from safetensors.torch import load_file

    merged = load_planner(s1_settings, "merged")
    saved = load_file(str(Path(tiny_qwen["planner_merged"]) / "model.safetensors"))
    key = next(k for k in saved if k.endswith("lm_head.weight"))
    torch.testing.assert_close(merged.backbone().lm_head.weight, saved[key], atol=0, rtol=0)
    embed = merged.backbone().get_input_embeddings().weight
    assert not torch.equal(merged.backbone().lm_head.weight, embed)  # untied and trained separately


def test_auto_mode_and_weights_status(s1_settings, base_only, tmp_path):
    status = weights_status(s1_settings)
    assert status["planner"] == "merged" and status["unison"] and status["qwen"] and status["projector"]
    assert load_planner(s1_settings).kind == "merged"
    no_merged = s1_settings.replace(planner_merged=None)
    assert weights_status(no_merged)["planner"] == "adapter"
    assert load_planner(no_merged).kind == "adapter"
    status = weights_status(base_only)
    assert status["planner"] == "base" and not status["unison"] and not status["adapter"]
    assert "adapter_config.json" in status["missing"]["adapter"]
    nothing = s1_settings.replace(qwen=str(tmp_path / "nope"), unison=str(tmp_path / "nope"), planner_merged=None)
    status = weights_status(nothing)
    assert status["planner"] is None and not status["qwen"]


def test_loaded_once_per_process(s1_settings):
    from unison_agent.models.registry import registry

    first = load_planner(s1_settings, "merged")
    count = len(registry().loads)
    assert load_planner(s1_settings, "merged") is first
    assert load_planner(s1_settings) is first  # auto resolves to the same cached planner
    assert len(registry().loads) == count


def test_device_dtype_and_attention(s1_settings):
    planner = load_planner(s1_settings, "base")
    assert planner.device == CPU and planner.dtype == torch.float32
    assert planner.backbone().config._attn_implementation == "sdpa"
    bf16 = load_planner(s1_settings.replace(dtype="bfloat16"), "base")
    assert bf16.backbone().dtype == torch.bfloat16


def test_missing_files_are_named(s1_settings, tmp_path, tiny_qwen):
    with pytest.raises(WeightsError, match=r"config\.json.*model\.safetensors"):
        load_planner(s1_settings.replace(qwen=str(tmp_path), unison=str(tmp_path), planner_merged=None))
    with pytest.raises(WeightsError, match=r"merged planner.*missing.*config\.json"):
        load_planner(s1_settings.replace(planner_merged=str(tmp_path)), "merged")
    broken = tmp_path / "adapter"
    broken.mkdir()
    (broken / "adapter_config.json").write_text((Path(tiny_qwen["unison"]) / "adapter_config.json").read_text())
    with pytest.raises(WeightsError, match=r"adapter_model\.safetensors"):
        load_planner(s1_settings.replace(unison=str(broken)), "adapter")
    with pytest.raises(WeightsError, match="directory"):
        load_planner(s1_settings.replace(qwen=str(tmp_path / "missing")), "base")


def test_partial_unison_tokens_are_refused(tiny_qwen):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen["qwen"])
    tok.add_tokens(["<CFV>"], special_tokens=True)
    with pytest.raises(WeightsError, match="<CFI>"):
        add_unison_tokens(tok)


def test_adapter_row_count_wins(tiny_qwen):
    from unison_agent.models.qwen_loader import resize_embeddings

    model = load_base_model(Path(tiny_qwen["qwen"]), device=CPU, dtype=torch.float32, attn="sdpa")
    rows = model.get_input_embeddings().weight.shape[0]
    resize_embeddings(model, rows + 30)
    prepare_for_adapter(model, rows + 14, adapter_rows=rows + 20)  # a training run that padded to another size
    assert model.get_input_embeddings().weight.shape[0] == rows + 20
    assert model.get_output_embeddings().weight.shape[0] == rows + 20
    resize_embeddings(model, rows)  # never shrinks unless asked
    assert model.get_input_embeddings().weight.shape[0] == rows + 20
