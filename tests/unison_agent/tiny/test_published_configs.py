"""The published-shape kit's processor and generation config are the published ones, read back from the files the
kit writes (through the function the kit build calls; the 2.6 GB kit itself is not built here)."""

from __future__ import annotations


def test_kit_writes_the_published_image_processor_and_generation_config(tmp_path):
    from transformers import AutoProcessor, GenerationConfig

    from unison_agent.tiny.published import _build_qwen_tokenizer, qwen_processor, save_qwen_settings

    save_qwen_settings(tmp_path, qwen_processor(_build_qwen_tokenizer()))
    processor = AutoProcessor.from_pretrained(tmp_path)
    size = processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (3136, 12_845_056)  # min_pixels, max_pixels
    assert (processor.image_processor.patch_size, processor.image_processor.merge_size) == (14, 2)
    gen = GenerationConfig.from_pretrained(tmp_path)
    assert (gen.repetition_penalty, gen.top_k, gen.top_p) == (1.05, 1, 0.001)  # top_k 1: greedy
    assert (gen.bos_token_id, gen.pad_token_id, gen.eos_token_id) == (151643, 151643, [151645, 151643])


def test_kit_docstring_lists_every_remaining_difference():
    from unison_agent.tiny import published

    doc = published.__doc__
    for difference in ("- Depth:", "- umT5's vocabulary:", "- Qwen's tokenizer:", "- The LoRA's layout:"):
        assert difference in doc
