"""The model planner's choices reach the run: the size (``<BORES>``) and length (``<BONF>``) the planning LoRA writes
are what ``WanVACEPipeline.__call__`` receives, also for requests phrased without numbers; the settings' default size
applies only where no planner chose one (the rules planner without size words, a token plan without ``<BORES>``).

The LoRA's answers are scripted (token plans such a LoRA writes), decoded by the real codec; everything after the
planner is the real path: ``prepare_request``, ``Session`` with the demo's tiny models.
"""

from __future__ import annotations

import pytest

from unison_agent.contract.settings import Settings
from unison_agent.core.demo import demo_defaults, demo_settings
from unison_agent.core.prepare import prepare_request
from unison_agent.graphs.toolbox import ModelTools

# (request, the LoRA's answer, (width, height, num_frames) that must reach the pipeline)
CASES = [
    ("a tall phone wallpaper of a lighthouse at dusk", "<CFI><BORES>480,832<EORES>", (480, 832, 1)),
    ("an HD picture of a fox in the snow", "<CFI><BORES>1280,720<EORES>", (1280, 720, 1)),
    ("a poster for a jazz night in the park", "<CFI><BORES>576,1024<EORES>", (576, 1024, 1)),
    ("a story format video of waves on a beach", "<CFV><BORES>480,832<EORES><BONF>48<EONF>", (480, 832, 49)),
    ("a widescreen shot of mountains at sunrise", "<CFI><BORES>1280,720<EORES>", (1280, 720, 1)),
]
IDS = ["tall-phone-wallpaper", "HD", "poster", "story-format", "widescreen"]


class LoraTools(ModelTools):
    """The real tools, with the planning LoRA's answer to each request scripted (decoded by the real codec)."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__()
        self.answers = answers

    def planner(self, settings):
        return self

    def plan(self, request):
        from unison_agent.planners.unison import plan_from_tokens

        answer = next(a for text, a in self.answers.items() if text in request.text)
        return plan_from_tokens(answer, request)


@pytest.fixture
def lora_settings(tmp_path) -> Settings:
    return Settings.resolve({"home": str(tmp_path / "home"), "planner": "unison"}, env={})


@pytest.mark.parametrize("demo", [False, True], ids=["method-defaults", "demo-defaults"])
@pytest.mark.parametrize(("text", "answer", "want"), CASES, ids=IDS)
def test_prepare_request_keeps_the_loras_size_and_length(lora_settings, text, answer, want, demo):
    settings = demo_defaults(lora_settings) if demo else lora_settings
    (step,) = prepare_request(text, settings=settings, planner=LoraTools({text: answer}))
    plan = step.plan
    assert (plan.width, plan.height, plan.num_frames) == want, step.notes
    assert plan.sized_by_planner and plan.planner == "unison" and plan.fallback is None


def test_the_default_size_applies_where_no_planner_chose_one(lora_settings):
    demo = demo_defaults(lora_settings)  # default size 128x128
    (step,) = prepare_request("a video of waves", settings=demo, planner=LoraTools({"waves": "<CFV><BONF>32<EONF>"}))
    assert (step.plan.width, step.plan.height, step.plan.num_frames) == (128, 128, 33)
    rules = ModelTools().planner(demo)  # the rules planner (the demo's)
    (step,) = prepare_request("a picture of a fox", settings=demo, planner=rules)
    assert (step.plan.width, step.plan.height) == (128, 128) and not step.plan.sized_by_planner
    (step,) = prepare_request("a 4:3 picture of a fox", settings=demo, planner=LoraTools({"fox": CASES[1][1]}))
    assert (step.plan.width, step.plan.height) == (720, 544), "words with a ratio win over a size without it"
    (step,) = prepare_request("a portrait of a fox", settings=demo, planner=LoraTools({"fox": CASES[0][1]}))
    assert (step.plan.width, step.plan.height) == (480, 832), "words that give a shape keep a size that has it"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, tiny_root) -> dict:
    return {"home": str(tmp_path_factory.mktemp("lora_home")), "demo": True, "demo_dir": str(tiny_root)}


@pytest.fixture
def sampler_stub(request, monkeypatch):
    """Unless the case runs for real, the pipeline answers its call with black frames of the asked size instead of
    sampling (a 49-frame 480x832 clip takes minutes on two CPU cores); requested before ``vace_calls``, so the
    call is still recorded (and preprocessed) exactly as it arrives."""
    from types import SimpleNamespace

    import numpy as np
    from diffusers import WanVACEPipeline

    if request.node.callspec.id.startswith(REAL):
        return

    def answer(self, *args, **kwargs):
        return SimpleNamespace(frames=[np.zeros((kwargs["num_frames"], kwargs["height"], kwargs["width"], 3))])

    monkeypatch.setattr(WanVACEPipeline, "__call__", answer)


REAL = "tall-phone-wallpaper"
"""The case that samples for real (about 20 s), so the whole path is run at a LoRA's size once."""


@pytest.mark.parametrize(("text", "answer", "want"), CASES, ids=IDS)
def test_session_runs_at_the_loras_size_and_length(demo_home, text, answer, want, sampler_stub, vace_calls):
    from unison_agent.core.session import Session
    from unison_agent.media.files import read_image, read_video

    s = Session(demo_settings(Settings.resolve(demo_home, env={})), thread="lora", tools=LoraTools({text: answer}))
    try:
        r = s.send(text)
    finally:
        s.close()
    assert r.ok, r.errors
    (call,) = vace_calls
    assert (call["width"], call["height"], call["num_frames"]) == want
    (out,) = r.outputs
    width, height, frames = want
    shape = read_image(out).shape if frames == 1 else read_video(out)[0].shape
    assert shape == ((height, width, 3) if frames == 1 else (frames, height, width, 3))
