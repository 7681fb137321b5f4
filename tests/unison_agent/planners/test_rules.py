"""The rule-based planner on varied prompts: every task, every phrasing family of the meta-information."""

import pytest

from unison_agent.contract.errors import MediaError, PlanError
from unison_agent.planners.base import Request
from unison_agent.planners.rules import RulesPlanner, explicit_values

# (prompt, task, expected fields). {P} photo.png, {D} dog.jpg, {M} mask.png, {V} clip.mp4, {PV} pose.mp4,
# {G} gray.png, {DM} depth_map.png. A "roles" entry lists the role of each mention in order.
CASES = [
    # --- text understanding
    ("What is the capital of France?", "text_understanding", {}),
    ("Write a haiku about autumn leaves", "text_understanding", {}),
    ("explain how diffusion models work", "text_understanding", {}),
    ("hello there", "text_understanding", {}),
    ("Can you summarize the plot of Hamlet?", "text_understanding", {}),
    ("How do I make a video call?", "text_understanding", {}),
    ("Can you make a video of a cat playing piano?", "text_to_video", {}),
    # --- image understanding
    ("Describe ###{P}###", "image_understanding", {"roles": ["context"]}),
    ("What color is the car in @{P}?", "image_understanding", {}),
    ("How many animals are in ###{P}### and ###{D}###?", "image_understanding", {"roles": ["context", "context"]}),
    ("###{P}###", "image_understanding", {}),
    ("Is there a person in ###{D}###?", "image_understanding", {}),
    ("Compare ###{P}### with ###{D}###", "image_understanding", {}),
    ("caption this image ###{P}###", "image_understanding", {}),
    # --- video understanding
    ("What happens in ###{V}###?", "video_understanding", {"roles": ["context"]}),
    ("Summarize @{V}", "video_understanding", {}),
    (
        "Describe the motion in ###{V}### compared to ###{P}###",
        "video_understanding",
        {"roles": ["context", "context"]},
    ),
    ("how many people appear in ###{V}###", "video_understanding", {}),
    # --- text to image, sizes in every phrasing
    (
        "Generate a picture of a red fox in the snow",
        "text_to_image",
        {"width": 832, "height": 480, "num_frames": 1, "fps": None},
    ),
    ("Create a 1280x720 image of a castle", "text_to_image", {"width": 1280, "height": 720}),
    ("draw a cat, 768 by 480", "text_to_image", {"width": 768, "height": 480}),
    (
        "Draw a cat with a width of 768 pixels and a height of 480 pixels",
        "text_to_image",
        {"width": 768, "height": 480},
    ),
    ("paint a lighthouse with a height of 832 and a width of 480", "text_to_image", {"width": 480, "height": 832}),
    ("an image of a robot, 512 pixels wide and 768 pixels tall", "text_to_image", {"width": 512, "height": 768}),
    ("make an image of a bird at 1024×576", "text_to_image", {"width": 1024, "height": 576}),
    ("Create a picture of a forest, 640 x 640 px", "text_to_image", {"width": 640, "height": 640}),
    ("make a 720p picture of a street", "text_to_image", {"width": 1280, "height": 720}),
    ("generate a 480P photo of a lake", "text_to_image", {"width": 832, "height": 480}),
    ("Make a picture of a red fox, 1080p portrait mode", "text_to_image", {"width": 1072, "height": 1920}),
    ("a portrait of an old sailor, generate it please", "text_to_image", {"width": 832, "height": 480}),
    ("Create a vertical image of a skyscraper", "text_to_image", {"width": 480, "height": 832}),
    ("make a square image of a coffee logo", "text_to_image", {"width": 624, "height": 624}),
    ("draw a landscape picture of hills", "text_to_image", {"width": 832, "height": 480}),
    ("generate a 4:3 image of a classroom", "text_to_image", {"width": 720, "height": 544}),
    ("generate an image of a cat with width 1000 and height 600", "text_to_image", {"width": 992, "height": 592}),
    ("Show me a picture of a sunset over the sea", "text_to_image", {}),
    ("I want an illustration of a dragon", "text_to_image", {}),
    ("a poster of a jazz festival, 9:16", "text_to_image", {"width": 464, "height": 832}),
    # --- text to video, durations and frame counts
    ("Make a 3-second video of waves crashing on rocks", "text_to_video", {"num_frames": 49, "fps": 16}),
    ("Generate a video of a dog running, 2 seconds", "text_to_video", {"num_frames": 33}),
    ("a 1s clip of a flickering candle", "text_to_video", {"num_frames": 17}),
    ("create a five second animation of a spinning top", "text_to_video", {"num_frames": 81}),
    ("Make a video of a city at night with 49 frames", "text_to_video", {"num_frames": 49}),
    ("render a 50-frame clip of smoke", "text_to_video", {"num_frames": 49}),
    ("make a clip of rain with 51 frames", "text_to_video", {"num_frames": 49}),
    ("generate a video of a horse galloping", "text_to_video", {"num_frames": 81, "width": 832, "height": 480}),
    ("A video of a dog running, 768 by 480", "text_to_video", {"width": 768, "height": 480}),
    ("Make a 720p video of fireworks", "text_to_video", {"width": 1280, "height": 720}),
    ("Generate a 480P clip of rain", "text_to_video", {"width": 832, "height": 480}),
    ("A vertical video of a waterfall, 2 seconds", "text_to_video", {"width": 480, "height": 832, "num_frames": 33}),
    ("film a 10 second timelapse of clouds", "text_to_video", {"num_frames": 161}),
    ("make a half a second video of a blink", "text_to_video", {"num_frames": 9}),
    ("create a square video of a bouncing ball, 4 s", "text_to_video", {"width": 624, "height": 624, "num_frames": 65}),
    ("an animation of a paper plane in 1280x720", "text_to_video", {"width": 1280, "height": 720}),
    # --- image to video, first vs last
    ("Animate ###{P}###", "image_to_video", {"frame_anchor": "first", "roles": ["frame"]}),
    ("Animate ###{P}### into a 2s video", "image_to_video", {"num_frames": 33, "frame_anchor": "first"}),
    ("Make a video that ends with ###{P}###", "image_to_video", {"frame_anchor": "last"}),
    ("Use ###{P}### as the last frame of a video of a sunrise", "image_to_video", {"frame_anchor": "last"}),
    ("Use ###{P}### as the final frame, 3 seconds", "image_to_video", {"frame_anchor": "last", "num_frames": 49}),
    ("Make a video starting from ###{P}###", "image_to_video", {"frame_anchor": "first"}),
    ("###{D}### is the first frame; make a video of the dog jumping", "image_to_video", {"frame_anchor": "first"}),
    ("bring @{P} to life", "image_to_video", {"frame_anchor": "first"}),
    ("create a 720p clip that begins with ###{P}###", "image_to_video", {"frame_anchor": "first", "width": 1280}),
    ("make a video of a flower blooming that finishes on ###{P}###", "image_to_video", {"frame_anchor": "last"}),
    ("turn ###{P}### into a video", "image_to_video", {"frame_anchor": "first"}),
    ("Show me ###{P}### as a 3 second clip", "image_to_video", {"num_frames": 49}),
    ("turn ###{P}### into an anime video", "image_to_video", {}),
    # --- image edit: by wording and by content
    ("Make the cat in ###{P}### white", "image_edit", {"target": "cat", "roles": ["source"]}),
    ("Replace the dog in ###{D}### with a tiger", "image_edit", {"target": "dog"}),
    ("remove the person from ###{P}###", "image_edit", {"target": "person"}),
    ("Edit ###{P}### using the mask ###{M}### to add a hat", "image_edit", {"roles": ["source", "mask"]}),
    ("Fill ###{M}### region in ###{P}### with flowers", "image_edit", {"roles": ["mask", "source"]}),
    ("put flowers where ###{M}### is white in ###{P}###, then edit", "image_edit", {"roles": ["mask", "source"]}),
    ("inpaint ###{P}### with ###{M}###: a red balloon", "image_edit", {"roles": ["source", "mask"]}),
    ("###{G}### is the mask for ###{P}###; paint a window there, edit it", "image_edit", {"roles": ["mask", "source"]}),
    ("change the sky in ###{P}### to a sunset", "image_edit", {"target": "sky"}),
    ("erase the text on ###{P}###", "image_edit", {"target": "text"}),
    ("Put a hat on the dog in ###{D}###", "image_edit", {"target": "dog"}),
    ("add a scarf to the snowman in ###{P}###", "image_edit", {"target": "snowman"}),
    # --- image reference
    ("Generate an image of this dog ###{D}### surfing on a wave", "image_reference", {"roles": ["reference"]}),
    ("create a picture of the person in ###{P}### as an astronaut", "image_reference", {}),
    ("draw ###{P}### and ###{D}### having a picnic", "image_reference", {"roles": ["reference", "reference"]}),
    ("make a new picture featuring ###{D}### in Paris", "image_reference", {}),
    # --- image control
    (
        "Generate an image with the same pose as ###{P}### showing an astronaut",
        "image_control",
        {"control": "pose", "roles": ["control"]},
    ),
    ("make a picture of a castle using the depth of ###{P}###", "image_control", {"control": "depth"}),
    ("a watercolor painting following the edges of ###{P}###", "image_control", {"control": "canny"}),
    ("colorize ###{P}###", "image_control", {"control": "gray"}),
    ("turn this scribble ###{P}### into a photo of a house", "image_control", {"control": "ready"}),
    ("render a city from the depth map ###{DM}###", "image_control", {"control": "ready"}),
    ("make an image of a robot from this sketch ###{P}###", "image_control", {"control": "ready"}),
    ("Make ###{P}### into a painting in the style of van gogh", "image_control", {"control": "depth"}),
    # --- video reference
    ("Make a video of this person ###{P}### dancing on the moon", "video_reference", {"roles": ["reference"]}),
    ("create a clip featuring ###{D}### playing fetch, 2 seconds", "video_reference", {"num_frames": 33}),
    ("generate a video of ###{P}### and ###{D}### walking together", "image_to_video", {"roles": ["frame", "context"]}),
    # --- video control
    (
        "Create a video of a robot following the pose in ###{V}###",
        "video_control",
        {"control": "pose", "roles": ["control"]},
    ),
    ("Make a video of a fox using the depth of ###{V}###", "video_control", {"control": "depth"}),
    ("Turn the edges of ###{V}### into a video of a jungle", "video_control", {"control": "canny"}),
    ("Use this pose video ###{PV}### to make a video of a knight", "video_control", {"control": "ready"}),
    ("Make a video of a ballerina from ###{PV}###", "video_control", {"control": "ready"}),
    ("Colorize ###{V}###", "video_control", {"control": "gray"}),
    ("make a video of a car driven by the optical flow of ###{V}###", "video_control", {"control": "flow"}),
    ("a clay animation that matches the motion of ###{V}###, scribble style", "video_control", {"control": "scribble"}),
    ("generate a video of a dancer with the same skeleton as ###{V}###", "video_control", {"control": "pose"}),
    ("make ###{V}### look like a watercolor", "video_control", {"control": "depth"}),
    ("restyle @{V} as a claymation", "video_control", {"control": "depth"}),
    # --- video edit
    ("Remove the car from ###{V}###", "video_edit", {"target": "car", "roles": ["source"]}),
    ("Make the sky in ###{V}### purple", "video_edit", {"target": "sky"}),
    ("replace the ball in @{V} with an apple", "video_edit", {"target": "ball"}),
    ("edit ###{V}### with the mask ###{M}### to add snow", "video_edit", {"roles": ["source", "mask"]}),
    ("use ###{M}### as the mask on ###{V}### and make it glow", "video_edit", {"roles": ["mask", "source"]}),
    ("turn the red square in ###{V}### blue, 720p", "video_edit", {"target": "red square", "width": 1280}),
]


@pytest.fixture(scope="module")
def paths(media_dir):
    names = {
        "P": "photo.png",
        "D": "dog.jpg",
        "M": "mask.png",
        "V": "clip.mp4",
        "PV": "pose.mp4",
        "G": "gray.png",
        "DM": "depth_map.png",
    }
    return {k: str(media_dir / v) for k, v in names.items()}


def test_enough_cases_and_all_tasks_covered():
    assert len(CASES) >= 80
    from unison_agent.contract.plan import PLANNER_TASKS

    assert {task for _, task, _ in CASES} == {t.value for t in PLANNER_TASKS}


@pytest.mark.parametrize("prompt, task, expected", CASES, ids=[c[0][:50] for c in CASES])
def test_rules_planner(prompt, task, expected, paths):
    text = prompt.format(**paths)
    plan = RulesPlanner().plan(Request.parse(text))
    assert plan.task.value == task, f"{text!r} -> {plan.task.value}"
    for key, value in expected.items():
        if key == "roles":
            assert [i.role for i in plan.inputs] == value
        else:
            assert getattr(plan, key) == value, f"{key}: {getattr(plan, key)!r} != {value!r} for {text!r}"
    assert plan.planner == "rules"
    assert "###" not in plan.prompt and paths["P"] not in plan.prompt


def test_defaults_are_the_methods(paths):
    plan = RulesPlanner().plan(Request.parse("make a video of the sea"))
    assert (plan.width, plan.height, plan.num_frames, plan.fps) == (832, 480, 81, 16)
    plan = RulesPlanner().plan(Request.parse("make a picture of the sea"))
    assert (plan.width, plan.height, plan.num_frames, plan.fps) == (832, 480, 1, None)


def test_deterministic(paths):
    text = "Animate ###{P}### into a 3-second 720p video".format(**paths)
    plans = {RulesPlanner().plan(Request.parse(text)).model_dump_json() for _ in range(5)}
    assert len(plans) == 1


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("a 4K picture of mountains", "between 64 and 2048"),
        ("make a 30 minute video of a beach", "at most 600 seconds"),
        ("a video with 9999 frames of a river", "too long"),
        ("an image of a cat at 20x20", "between 64 and 2048"),
    ],
)
def test_impossible_requests_are_clear_errors(prompt, message):
    with pytest.raises(PlanError, match=message):
        RulesPlanner().plan(Request.parse(prompt))


def test_bad_files_are_clear_errors(media_dir):
    with pytest.raises(MediaError, match="no such file"):
        Request.parse("describe ###/nonexistent/cat.png###")
    with pytest.raises(MediaError, match="unsupported file type"):
        Request.parse(f"describe ###{media_dir / 'notes.txt'}###")
    with pytest.raises(MediaError, match="not a readable video"):
        Request.parse(f"describe ###{media_dir / 'broken.mp4'}###")
    bad_png = media_dir / "fake.png"
    bad_png.write_bytes(b"not a png")
    with pytest.raises(MediaError, match="not a readable image"):
        Request.parse(f"describe ###{bad_png}###")


def test_explicit_values(paths):
    req = Request.parse("Use ###{P}### as the last frame of a 2 second 1280x720 video".format(**paths))
    values = explicit_values(req)
    assert values["width"] == 1280 and values["height"] == 720
    assert values["num_frames"] == 33 and values["frame_anchor"] == "last"
    req = Request.parse("edit ###{P}### with ###{M}###".format(**paths))
    assert explicit_values(req)["mask_index"] == 1
    assert explicit_values(Request.parse("hello")) == {}
