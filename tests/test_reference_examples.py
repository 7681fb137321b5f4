"""The ten prompts of the Unison reference's run.sh, planned by the rule-based planner (and prepared as `run` would),
on synthetic stand-ins for the reference's assets: the right task, roles, target and values."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import natural_clip, pose_clip
from unison_agent.contract.settings import Settings
from unison_agent.core.prepare import prepare_request
from unison_agent.media.files import write_image, write_video
from unison_agent.planners.base import Request
from unison_agent.planners.rules import RulesPlanner

# The prompts as run.sh has them (assets under ./assets/).
RUN_SH = [
    "There are 100 books in a library. On Monday, 40 books are borrowed. On Tuesday, 20 books are returned. How many books are now in the library?",
    "###./assets/image_understanding.jpg### What is the dark sauce in the bowl? Choices: A) tomato sauce B) bbq sauce C) salsa D) gravy Answer with the option's letter from the given choices directly.",
    "Create an 480P image of a clownfish swims among the tentacles of a sea anemone, showcasing its vibrant orange and white stripes.",
    "I have an image ###./assets/image_edit_source.png### and a mask ###./assets/image_edit_mask.png###. Apply the mask to the source image and alter the content to show them having tea party.",
    "###./assets/image_ref.png### Please generate an ID photo for this woman, depicting her working in front of a computer in her room. The scene should include books scattered nearby, with a very warm layout featuring wooden walls and a warm-toned desk lamp.",
    "Please create a video with a width of 768 pixels and a height of 480 pixels, that is 2 seconds long, of a lion walking around in its habitat.",
    "Based on the provided last frame ###./assets/video_i2v.jpg###, generate a video that showcases a magnificent natural landscape. The camera remains stationary, capturing the rolling mountains and vast sky. The mountain ridges stand out distinctly against the blue sky, while clouds drift slowly through the valleys, creating a dynamic scene.",
    "Based on the provided face ID ###./assets/video_ref.png###, generate a video featuring a close-up, eye-level shot of a foreign man. He is wearing a black outer coat over a black and red striped sweater, swaying his body and arms as if speaking. In the background, there is a black wall illuminated by purple lighting and a large screen. On the screen, a figure in yellow clothing is holding a yellow shield with a black pattern, alongside other figures in white, with the yellow ground visualized.",
    "Here is the mask <VIDPAD>. Make the bird in this video ###./assets/video_edit_source.mp4### appear cleaner and neater, presenting it in white.",
    "###./assets/video_ctrl.mp4### Following the provided pose information, please create a video showing a construction worker in workwear and a safety helmet diligently working at a construction site. He is holding a tablet, seemingly recording or reviewing information. In the background, buildings under construction and some construction materials are visible. The entire video is shot from a fixed angle, emphasizing the worker's focus and his working environment.",
]

# task, roles of the mentioned files, and other expected fields
EXPECTED = [
    ("text_understanding", [], {}),
    ("image_understanding", ["context"], {}),
    ("text_to_image", [], {"width": 832, "height": 480}),
    ("image_edit", ["source", "mask"], {}),
    ("image_reference", ["reference"], {}),
    ("text_to_video", [], {"width": 768, "height": 480, "num_frames": 33}),
    ("image_to_video", ["frame"], {"frame_anchor": "last"}),
    ("video_reference", ["reference"], {}),
    ("video_edit", ["source"], {"target": "bird"}),
    ("video_control", ["control"], {}),
]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    a = root / "assets"
    a.mkdir()
    for name in ("image_understanding.jpg", "image_edit_source.png", "image_ref.png", "video_i2v.jpg", "video_ref.png"):
        write_image(a / name, natural_clip(1, 96, 160, seed=len(name))[0])
    mask = np.zeros((96, 160), np.uint8)
    mask[20:70, 40:120] = 255
    write_image(a / "image_edit_mask.png", mask)
    write_video(a / "video_edit_source.mp4", natural_clip(17, 96, 160), fps=16)
    write_video(a / "video_ctrl.mp4", pose_clip(17, 96, 160), fps=16)  # the reference's is a pose rendering
    return root


@pytest.mark.parametrize("index", range(10))
def test_rules_planner_plans_the_reference_examples(assets, monkeypatch, index):
    monkeypatch.chdir(assets)
    task, roles, fields = EXPECTED[index]
    plan = RulesPlanner().plan(Request.parse(RUN_SH[index]))
    assert plan.task.value == task
    assert [i.role for i in plan.inputs] == roles
    for key, value in fields.items():
        assert getattr(plan, key) == value, key


def test_prepared_control_example_uses_the_pose_video_as_given(assets, monkeypatch, tmp_path):
    """run.sh's pose-control example: the given video already is a pose rendering, so no annotator re-runs."""
    monkeypatch.chdir(assets)
    settings = Settings.resolve({"home": str(tmp_path), "planner": "rules"}, env={})

    (step,) = prepare_request(RUN_SH[9], settings=settings, planner=RulesPlanner())
    assert step.plan.control == "ready" and step.jobs == []
    assert any("already is a pose map" in n for n in step.notes)
    (step,) = prepare_request(RUN_SH[8], settings=settings, planner=RulesPlanner())  # the typed <VIDPAD> mask
    assert step.plan.task.value == "video_edit" and step.plan.prompt.count("<VIDPAD>") == 2
    assert [(j.kind, j.target) for j in step.jobs] == [("mask", "bird")]  # made by the annotators


@pytest.mark.parametrize(
    "text, target",
    [
        ("add stars to ###{P}###", None),
        ("put a lamp in ###{P}###", None),
        ("put a lamp on the table in ###{P}###", "table"),
    ],
)
def test_editing_verbs_on_a_picture_plan_an_edit(assets, text, target):
    path = assets / "assets" / "image_ref.png"
    plan = RulesPlanner().plan(Request.parse(text.format(P=path)))
    assert plan.task.value == "image_edit" and plan.target == target


@pytest.fixture
def demo_cli(assets, monkeypatch, tmp_path, tiny_root, capsys):
    import json

    from unison_agent.cli import main

    monkeypatch.chdir(assets)
    monkeypatch.setenv("UNISON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UNISON_DEMO_DIR", str(tiny_root))

    def run(index: int, *extra: str) -> dict:
        assert main(["run", "--demo", "--json", "--steps", "1", *extra, RUN_SH[index]]) == 0, capsys.readouterr().err
        out = json.loads(capsys.readouterr().out)
        assert out["task"] == EXPECTED[index][0] and out["outputs"], out
        return out

    return run


def test_run_demo_makes_the_eight_reference_generations_at_the_sizes_they_ask_for(demo_cli, vace_calls):
    """`cli.py run --demo` on run.sh's eight generation prompts: each succeeds, and what reaches WanVACEPipeline
    is the size the prompt asks for (480P; 768x480), else the demo's default fitted to the input. The 2-second
    lion runs with 5 frames here (its 33 frames at 768x480 take ~40 s on 2 CPU cores: the heavy test below)."""
    made = []
    for index in range(2, 10):
        demo_cli(index, *(["--frames", "5"] if index == 5 else []))
        made.append((vace_calls[-1]["width"], vace_calls[-1]["height"], vace_calls[-1]["num_frames"]))
    assert len(vace_calls) == 8
    assert made[0] == (832, 480, 1)  # "an 480P image"
    assert made[3] == (768, 480, 5)  # "a width of 768 pixels and a height of 480 pixels"
    assert made[7][2] == 17  # the pose clip's own 17 frames at its real speed


@pytest.mark.heavy
def test_run_demo_makes_the_two_second_lion_at_768x480(demo_cli, vace_calls):
    demo_cli(5)
    assert (vace_calls[-1]["width"], vace_calls[-1]["height"], vace_calls[-1]["num_frames"]) == (768, 480, 33)
