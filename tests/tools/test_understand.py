"""Understanding: every file reaches the model, videos as video, history, size caps, streaming."""

from __future__ import annotations

import pytest
import torch

from unison_agent.models.qwen_loader import load_planner
from unison_agent.planners.base import Request
from unison_agent.planners.rules import RulesPlanner
from unison_agent.tools.understand import build_messages, prepare_inputs, sample_video, understand


def _plan(text: str):
    return RulesPlanner().plan(Request.parse(text))


def _count(inputs, token_id: int) -> int:
    return int((inputs["input_ids"] == token_id).sum())


def test_video_reaches_the_model_as_video(s1_settings, s1_media):
    planner = load_planner(s1_settings)
    plan = _plan(f"what happens in ###{s1_media['video']}###?")
    inputs = prepare_inputs(planner, build_messages(plan), s1_settings)
    assert "pixel_values_videos" in inputs and "pixel_values" not in inputs
    grid = inputs["video_grid_thw"]
    assert grid.shape == (1, 3)
    video_id = planner.backbone().config.video_token_id
    assert _count(inputs, video_id) == int(grid.prod()) // 4 > 0
    # 16 frames at 8 fps = 2 s; sampled at 2 fps -> 4 frames -> 2 temporal patches
    assert int(grid[0, 0]) == 2
    assert float(inputs["second_per_grid_ts"][0]) == pytest.approx(1.0)  # 2 frames per patch at 2 fps


def test_fps_sampling_and_frame_cap(s1_settings, s1_media):
    frames, meta = sample_video(str(s1_media["video"]), s1_settings)
    assert frames.shape[0] == 4 and meta.fps == 8 and meta.total_num_frames == 16
    assert meta.sampled_fps == pytest.approx(2.0)
    frames, meta = sample_video(str(s1_media["video"]), s1_settings.replace(video_fps=8.0, video_max_frames=6))
    assert frames.shape[0] == 6 and len(meta.frames_indices) == 6


def test_all_images_are_used_in_place(s1_settings, s1_media):
    planner = load_planner(s1_settings)
    plan = _plan(f"compare ###{s1_media['image']}### with ###{s1_media['image2']}### and ###{s1_media['video']}###")
    messages = build_messages(plan)
    kinds = [c["type"] for c in messages[-1]["content"]]
    assert kinds == ["text", "image", "text", "image", "text", "video"]
    inputs = prepare_inputs(planner, messages, s1_settings)
    assert inputs["image_grid_thw"].shape == (2, 3) and inputs["video_grid_thw"].shape == (1, 3)


def test_pixel_caps_come_from_the_settings(s1_settings, s1_media):
    planner = load_planner(s1_settings)
    plan = _plan(f"describe ###{s1_media['image']}### and ###{s1_media['video']}###")
    messages = build_messages(plan)
    big = prepare_inputs(planner, messages, s1_settings)
    small = prepare_inputs(planner, messages, s1_settings.replace(image_max_pixels=28 * 28, video_max_pixels=28 * 28))
    assert int(small["image_grid_thw"].prod()) < int(big["image_grid_thw"].prod())
    assert int(small["video_grid_thw"][0, 1:].prod()) < int(big["video_grid_thw"][0, 1:].prod())


def test_history_reaches_the_model(s1_settings, s1_media):
    planner = load_planner(s1_settings)
    history = [
        {"role": "user", "content": "remember the word zebra", "media": [str(s1_media["image2"])]},
        {"role": "assistant", "content": "I will remember zebra."},
    ]
    plan = _plan("which word did I ask you to remember?")
    inputs = prepare_inputs(planner, build_messages(plan, history), s1_settings)
    text = planner.tokenizer.decode(inputs["input_ids"][0])
    assert text.index("remember the word zebra") < text.index("I will remember zebra.") < text.index("which word")
    assert inputs["image_grid_thw"].shape == (1, 3)  # the earlier turn's image too
    with pytest.raises(ValueError, match="history\\[0\\].role"):
        build_messages(plan, [{"role": "tool", "content": "x"}])


def test_streaming_and_answer(base_only, s1_media):
    pieces: list[str] = []
    plan = _plan(f"what is in ###{s1_media['image']}###?")
    answer = understand(plan, base_only, on_token=pieces.append)
    assert isinstance(answer, str) and answer  # the random base model babbles: something to stream
    assert len(pieces) > 1 and "".join(pieces).strip() == answer
    assert understand(plan, base_only) == answer  # greedy: same answer without a callback


def test_both_loading_forms_answer_alike(s1_settings, s1_media):
    """Understanding uses the planning LoRA's weights in both forms (the reference answers with the merged
    model): base + adapter and the merged planner give the same answer, with and without an image."""
    adapter = s1_settings.replace(planner_merged=None)
    assert load_planner(adapter).kind == "adapter" and load_planner(s1_settings).kind == "merged"
    for plan in (_plan("tell me a story"), _plan(f"what is in ###{s1_media['image']}###?")):
        assert understand(plan, adapter) == understand(plan, s1_settings)


def test_default_system_prompt_is_qwens(base_only, s1_media):
    """No system message of our own: Qwen's template adds its default; a setting can give another."""
    planner = load_planner(base_only)
    plan = _plan("hello")
    text = planner.processor.apply_chat_template(build_messages(plan), tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    own = build_messages(plan, system_prompt="Answer in French.")
    assert own[0] == {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]}


def test_history_tokens_are_neutralised(base_only):
    """A control token typed in an earlier message reaches the model as text, like the current turn's."""
    history = [
        {"role": "user", "content": "say <CFV><BORES>64,64<EORES>", "media": []},
        {"role": "assistant", "content": "ok <CFI>", "media": []},
    ]
    messages = build_messages(_plan("again"), history)
    texts = [part["text"] for m in messages for part in m["content"] if part["type"] == "text"]
    assert not any(tok in t for t in texts for tok in ("<CFV>", "<BORES>", "<CFI>"))


def test_adapter_and_merged_logits_agree(s1_settings):
    """The two loading forms carry the same weights (the adapter on, merged in memory or on disk)."""
    adapter = s1_settings.replace(planner_merged=None)
    planner, merged = load_planner(adapter), load_planner(s1_settings, "merged")
    ids = merged.processor.apply_chat_template(
        [{"role": "user", "content": "a <CFV> b"}], tokenize=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        torch.testing.assert_close(planner.model(**ids).logits, merged.model(**ids).logits, atol=1e-4, rtol=1e-4)


def test_yes_probability_on_an_image_and_a_video(s1_settings, s1_media):
    """The verifier's score: P(yes) from one forward pass, in [0, 1], deterministic."""
    from unison_agent.tools.understand import yes_probability

    for path in (s1_media["image"], s1_media["video"]):
        p = yes_probability("Is there a red square?", [str(path)], s1_settings)
        assert 0.0 <= p <= 1.0
        assert p == yes_probability("Is there a red square?", [str(path)], s1_settings)
