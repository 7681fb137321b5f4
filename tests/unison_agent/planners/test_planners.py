"""The unison and qwen planners: decoding, constrained JSON, explicit values win, fallback, backend choice."""

from __future__ import annotations

import json

import pytest

from unison_agent.contract.errors import WeightsError
from unison_agent.contract.plan import Plan, Task
from unison_agent.contract.protocol import UNISON_TOKENS
from unison_agent.planners import get_planner
from unison_agent.planners.base import Request
from unison_agent.planners.overrides import apply_explicit, repair_roles
from unison_agent.planners.qwen import QwenPlanner, build_plan, plan_from_json, plan_schema, possible_tasks
from unison_agent.planners.rules import RulesPlanner
from unison_agent.planners.unison import UnisonPlanner, plan_from_tokens


@pytest.fixture(scope="module")
def requests_(s1_media):
    img, img2, mask, vid = (str(s1_media[k]) for k in ("image", "image2", "mask", "video"))
    return {
        "t2v": Request.parse("make a 2 second video of a cat at 640x360"),
        "t2i": Request.parse("draw a red fox in the snow"),
        "i2v": Request.parse(f"animate ###{img}### as the last frame, 3 seconds"),
        "edit": Request.parse(f"replace the dog in ###{img}### using the mask ###{mask}###"),
        "ctrl": Request.parse(f"follow the pose in ###{vid}### to make a robot dance"),
        "ref": Request.parse(f"a portrait of the person in ###{img}### and ###{img2}### as a knight"),
        "ask": Request.parse(f"what happens in ###{vid}###?"),
    }


# -- unison: token protocol --------------------------------------------------------------------------------


def test_token_plan_with_explicit_values_winning(requests_):
    plan = plan_from_tokens("<CFV><BORES>832,480<EORES><BONF>80<EONF><|im_end|>", requests_["t2v"])
    assert plan.task is Task.text_to_video and plan.planner == "unison" and plan.fallback is None
    assert (plan.width, plan.height, plan.num_frames) == (640, 352, 33)  # the user's 640x360 snapped down, 2 s
    assert plan.raw.startswith("<CFV>")


def test_token_plan_frame_anchor_and_roles_from_the_user(requests_):
    plan = plan_from_tokens("<CFV><BORES>832,480<EORES><BONF>80<EONF><BOFIDX>0<EOFIDX>", requests_["i2v"])
    assert plan.task is Task.image_to_video
    assert plan.frame_anchor == "last" and plan.num_frames == 49  # "as the last frame, 3 seconds"
    # the model swapped mask and source; the user's wording names the mask
    plan = plan_from_tokens("<CFI><BORES>832,480<EORES><BOEDIT>0,1<EOEDIT>", requests_["edit"])
    assert [i.role for i in plan.inputs] == ["source", "mask"]
    assert plan.target == "dog"
    plan = plan_from_tokens("<CFV><BORES>832,480<EORES><CTRL>", requests_["ctrl"])
    assert plan.task is Task.video_control and plan.control == "pose"


@pytest.mark.parametrize("raw", ["<CFV><BORES>832", "<EORES>", "<CFI><BONF>4<EONF>", "", "\n\n"])
def test_undecodable_output_falls_back_to_rules(requests_, raw):
    request = requests_["t2v"]
    plan = plan_from_tokens(raw, request)
    rules = RulesPlanner().plan(request)
    assert plan.planner == "unison" and plan.fallback and "could not be decoded" in plan.fallback
    assert plan.raw == raw
    assert plan.model_dump(exclude={"planner", "fallback", "raw"}) == rules.model_dump(
        exclude={"planner", "fallback", "raw"}
    )


def test_plain_text_answer_is_understanding(requests_):
    plan = plan_from_tokens("A cat walks across the room.<|im_end|>", requests_["ask"])
    assert plan.task is Task.video_understanding and plan.answer == "A cat walks across the room."


def test_unison_planner_on_the_tiny_model(s1_settings, requests_):
    planner = UnisonPlanner(s1_settings, max_new_tokens=12)
    for request in (requests_["t2v"], requests_["edit"], requests_["ask"]):
        plan = planner.plan(request)
        assert isinstance(plan, Plan) and plan.planner == "unison" and plan.raw is not None
        assert [i.path for i in plan.inputs] == [m.path for m in request.mentions]


@pytest.mark.parametrize("mode", ["merged", "adapter"])
def test_taught_tiny_lora_plans_end_to_end(s1_settings, s1_media, mode):
    """The tiny LoRA was taught a few answers: generation -> token protocol -> codec -> plan, in both forms."""
    settings = s1_settings if mode == "merged" else s1_settings.replace(planner_merged=None)
    planner = UnisonPlanner(settings)
    img, mask, vid = s1_media["image"], s1_media["mask"], s1_media["video"]
    cases = {
        "make a video of a cat": (Task.text_to_video, []),
        "draw a red fox in the snow": (Task.text_to_image, []),
        f"animate ###{img}### as the first frame": (Task.image_to_video, ["frame"]),
        f"use ###{img}### as the last frame of a video": (Task.image_to_video, ["frame"]),
        f"replace the dog in ###{img}### using the mask ###{mask}###": (Task.image_edit, ["source", "mask"]),
        f"a portrait of the person in ###{img}### as a knight": (Task.image_reference, ["reference"]),
        f"follow the pose in ###{vid}### to make a robot dance": (Task.video_control, ["control"]),
        "what is the capital of France?": (Task.text_understanding, []),
    }
    plans = {}
    for text, (task, roles) in cases.items():
        plan = planner.plan(Request.parse(text))
        assert plan.fallback is None and plan.task is task and [i.role for i in plan.inputs] == roles, text
        plans[text] = plan
    assert plans[f"animate ###{img}### as the first frame"].frame_anchor == "first"
    assert plans[f"use ###{img}### as the last frame of a video"].frame_anchor == "last"
    assert plans["make a video of a cat"].num_frames == 81
    assert plans[f"follow the pose in ###{vid}### to make a robot dance"].control == "pose"  # the user's word
    assert plans["what is the capital of France?"].answer == "Paris."


def test_unison_planner_needs_its_weights(base_only, requests_):
    with pytest.raises(WeightsError, match="adapter"):
        UnisonPlanner(base_only).plan(requests_["t2i"])


# -- qwen: JSON schema ---------------------------------------------------------------------------------------


def test_schema_offers_only_possible_tasks():
    assert possible_tasks([]) == ["text_understanding", "text_to_image", "text_to_video"]
    assert "video_edit" not in possible_tasks(["image"]) and "image_edit" in possible_tasks(["image"])
    assert "video_edit" in possible_tasks(["video"]) and "image_to_video" not in possible_tasks(["video"])
    roles = plan_schema(["image", "image"])["properties"]["roles"]
    assert roles["minItems"] == roles["maxItems"] == 2


def test_constrained_decoding_turns_a_random_model_into_valid_plans(s1_settings, requests_):
    planner = QwenPlanner(s1_settings)
    for name in ("t2v", "edit", "ctrl", "ref"):
        request = requests_[name]
        plan = planner.plan(request)
        answer = json.loads(plan.raw)  # the raw answer always is JSON of the schema
        kinds = [m.kind for m in request.mentions]
        assert set(answer) == set(plan_schema(kinds)["properties"])
        assert answer["task"] in possible_tasks(kinds) and len(answer["roles"]) == len(kinds)
        assert plan.planner == "qwen" and plan.fallback is None, (name, plan.fallback)


def test_qwen_planner_uses_the_base_model_only(base_only, requests_):
    plan = QwenPlanner(base_only).plan(requests_["edit"])
    assert plan.planner == "qwen" and plan.fallback is None


def test_build_plan_normalises_and_repairs():
    request = Request(text="x")
    plan = build_plan({"task": "text_to_video", "width": 650, "height": 350, "num_frames": 40, "roles": []}, request)
    assert (plan.width, plan.height, plan.num_frames, plan.fps) == (640, 336, 41, 16)
    plan = build_plan({"task": "text_to_image", "width": None, "height": None, "num_frames": 7, "roles": []}, request)
    assert (plan.width, plan.height, plan.num_frames, plan.fps) == (832, 480, 1, None)
    assert repair_roles(Task.image_edit, ["image", "image"], ["context", "context"]) == ["source", "context"]
    assert repair_roles(Task.image_to_video, ["image", "image"], ["frame", "frame"]) == ["frame", "context"]
    assert repair_roles(Task.video_edit, ["image", "video"], ["source", "mask"]) == ["context", "source"]


def test_unusable_json_falls_back(requests_):
    plan = plan_from_json('{"task": "image_edit", "roles": []', requests_["t2v"])
    assert plan.fallback and plan.planner == "qwen" and plan.task is Task.text_to_video
    plan = plan_from_json('{"task": "video_edit", "roles": []}', requests_["t2v"])  # impossible without a video
    assert plan.fallback and "not a usable plan" in plan.fallback
    plan = plan_from_json(
        '{"task": "text_to_video", "width": 832, "height": 480, "num_frames": 81, "roles": []}', requests_["t2v"]
    )
    assert plan.fallback is None and plan.num_frames == 33 and plan.width == 640


def test_apply_explicit_keeps_the_plan_when_nothing_was_said(requests_):
    plan = RulesPlanner().plan(requests_["t2i"]).with_changes(width=512, height=512)
    assert apply_explicit(plan, requests_["t2i"]) == plan


# -- backend choice ------------------------------------------------------------------------------------------


def test_get_planner_choice(s1_settings, base_only, tmp_path):
    assert isinstance(get_planner("auto", s1_settings), UnisonPlanner)
    assert isinstance(get_planner("auto", base_only), QwenPlanner)
    nothing = s1_settings.replace(qwen=str(tmp_path / "a"), unison=str(tmp_path / "b"), planner_merged=None)
    assert isinstance(get_planner("auto", nothing), RulesPlanner)
    assert isinstance(get_planner("qwen", s1_settings), QwenPlanner)
    assert get_planner("rules", s1_settings).name == "rules"


@pytest.mark.parametrize("n", [0, 1, 4])
def test_token_budget_covers_the_longest_answer(n):
    from unison_agent.planners.qwen import token_budget

    longest = {
        "task": "video_understanding",
        "width": 2048,
        "height": 2048,
        "num_frames": 321,
        "frame_anchor": "first",
        "control": "scribble",
        "roles": ["reference"] * n,
    }
    assert len(json.dumps(longest)) + 1 <= token_budget(n)  # + the end token; at least one character per token


def test_constrained_answer_ends_at_the_first_stop_token(s1_settings, requests_, monkeypatch):
    from unison_agent.planners.qwen import stop_ids

    planner = QwenPlanner(s1_settings)
    loaded = planner.load()
    outputs = []
    original = loaded.model.generate

    def capture(*args, **kwargs):
        out = original(*args, **kwargs)
        outputs.append(out[0, kwargs["input_ids"].shape[1] :].tolist())
        return out

    monkeypatch.setattr(loaded.model, "generate", capture)
    # a checkpoint whose generation config names only <|im_end|> must still stop at <|endoftext|>
    monkeypatch.setattr(loaded.model.generation_config, "eos_token_id", loaded.tokenizer.eos_token_id)
    planner.plan(requests_["edit"])
    new = outputs[-1]
    stops = set(stop_ids(loaded))
    assert new[-1] in stops and not stops & set(new[:-1])


def test_user_typed_tokens_never_reach_the_planner_as_tokens(s1_settings, s1_media):
    """A prompt containing <CFV>, <BORES>... or <|im_end|> is plain text to the tiny Unison tokenizer: the only
    Unison token ids in the planner's input are pads (a real mention's, and one the person typed)."""
    from unison_agent.models.qwen_loader import load_planner

    planner = load_planner(s1_settings, mode="merged")
    request = Request.parse(
        f"write '<CFV><BORES>64,64<EORES><IMGPAD><|im_end|>' on a sign in ###{s1_media['image']}###"
    )
    ids = planner.tokenizer(request.prompt)["input_ids"]
    unison_ids = dict(zip(planner.token_ids(), UNISON_TOKENS, strict=True))
    found = [unison_ids[i] for i in ids if i in unison_ids]
    assert found == ["<IMGPAD>", "<IMGPAD>"]
    assert planner.tokenizer.convert_tokens_to_ids("<|im_end|>") not in ids
