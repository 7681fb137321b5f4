"""The Unison token codec: decoding every token of the protocol, round trips, malformed output, injection."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unison_agent.contract.errors import ProtocolError
from unison_agent.contract.mentions import planning_prompt
from unison_agent.contract.plan import PLANNER_TASKS, Plan, Task
from unison_agent.contract.protocol import UNISON_TOKENS, decode, encode, neutralize


def test_fourteen_tokens_in_published_order():
    assert UNISON_TOKENS == (
        "<CFI>",
        "<CFV>",
        "<BORES>",
        "<EORES>",
        "<BONF>",
        "<EONF>",
        "<BOFIDX>",
        "<EOFIDX>",
        "<REF>",
        "<CTRL>",
        "<BOEDIT>",
        "<EOEDIT>",
        "<IMGPAD>",
        "<VIDPAD>",
    )


@pytest.mark.parametrize(
    "text, prompt, task, extra",
    [
        ("<CFI>", "a cat", Task.text_to_image, {"width": 832, "height": 480, "num_frames": 1}),
        ("<CFI><BORES>1280,720<EORES>", "a cat", Task.text_to_image, {"width": 1280, "height": 720}),
        ("<CFV>", "a cat", Task.text_to_video, {"num_frames": 81, "fps": 16}),
        ("<CFV><BORES>480,832<EORES><BONF>32<EONF>", "a cat", Task.text_to_video, {"width": 480, "num_frames": 33}),
        ("<CFV><BOFIDX>0<EOFIDX>", "animate ###a.png###", Task.image_to_video, {"frame_anchor": "first"}),
        ("<CFV><BOFIDX>80<EOFIDX>", "end on ###a.png###", Task.image_to_video, {"frame_anchor": "last"}),
        ("<CFV><BOFIDX>-1<EOFIDX>", "end on ###a.png###", Task.image_to_video, {"frame_anchor": "last"}),
        ("<CFI><REF>", "this dog ###a.png### on a beach", Task.image_reference, {}),
        ("<CFV><REF>", "###a.png### and ###b.png### dancing", Task.video_reference, {}),
        ("<CFI><CTRL>", "a knight in the pose ###p.png###", Task.image_control, {"control": "ready"}),
        ("<CFV><CTRL>", "a knight following ###p.mp4###", Task.video_control, {"control": "ready"}),
        ("<CFI><BOEDIT>1,0<EOEDIT>", "edit ###a.png### with ###m.png###", Task.image_edit, {}),
        ("<CFV><BOEDIT>0,1<EOEDIT>", "use ###m.png### on ###v.mp4###", Task.video_edit, {}),
        (
            "There are two cats.<|im_end|>",
            "what is in ###a.png###?",
            Task.image_understanding,
            {"answer": "There are two cats."},
        ),
        ("Paris.", "capital of France?", Task.text_understanding, {"answer": "Paris."}),
        ("A dog runs.", "what happens in ###v.mp4###", Task.video_understanding, {}),
    ],
)
def test_decode_every_form(text, prompt, task, extra):
    plan = decode(text, prompt)
    assert plan.task is task
    for key, value in extra.items():
        assert getattr(plan, key) == value
    assert "###" not in plan.prompt


def test_edit_indices_pick_mask_and_source():
    plan = decode("<CFI><BOEDIT>1,0<EOEDIT>", "edit ###a.png### with ###m.png###")
    assert [(i.path, i.role) for i in plan.inputs] == [("a.png", "source"), ("m.png", "mask")]
    plan = decode("<CFV><BOEDIT>0,1<EOEDIT>", "use ###m.png### on ###v.mp4###")
    assert [(i.path, i.role) for i in plan.inputs] == [("m.png", "mask"), ("v.mp4", "source")]
    plan = decode("<CFV><BOEDIT><EOEDIT>", "recolour ###v.mp4###")  # no indices: first video, salient mask later
    assert [(i.path, i.role) for i in plan.inputs] == [("v.mp4", "source")]


def test_both_anchors_reachable():
    """The reference script compares the index with a wrong literal, so 'first' is unreachable there."""
    anchors = {decode(f"<CFV><BOFIDX>{v}<EOFIDX>", "###a.png###").frame_anchor for v in ("0", "80")}
    assert anchors == {"first", "last"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("<CFV><BORES>832,4", "not closed"),
        ("<CFV><BORES>832<EORES>", "width,height"),
        ("<CFV><BORES>wide,tall<EORES>", "width,height"),
        ("<CFV><BONF>lots<EONF>", "frame count"),
        ("<CFI><BONF>3<EONF>", "image plan"),
        ("<CFI><CFV>", "both"),
        ("<EORES>", "without its opening"),
        ("<BORES>832,480<EORES>", "must start with"),
        ("<CFV><BOFIDX>0<EOFIDX>", "mentions none"),
        ("<CFI><REF><CTRL>", "conflicting"),
        ("   <|im_end|>", "no output"),
    ],
)
def test_malformed_output_is_a_typed_error_with_raw(text, message):
    with pytest.raises(ProtocolError, match=message) as info:
        decode(text, "edit ###a.png###" if "BOEDIT" in text else "a prompt")
    assert info.value.raw == text


def test_user_typed_tokens_are_text():
    prompt = "write <CFV><BORES>64,64<EORES> on a sign ###a.png### <IMGPAD>"
    pp = planning_prompt(prompt)
    # the mention and the typed pad are pads (the reference types pads for files it does not attach)
    assert pp.count("<IMGPAD>") == 2
    for tok in UNISON_TOKENS:
        assert tok not in pp.replace("<IMGPAD>", "")


def test_planner_values_are_snapped_not_thrown_away():
    """Sizes off the 16 grid and frame counts off 4k+1 are snapped the way diffusers does, with a note."""
    plan = decode("<CFV><BORES>1920,1080<EORES><BONF>79<EONF>", "a video of waves")
    assert (plan.width, plan.height, plan.num_frames) == (1920, 1072, 81)
    assert any("1920x1080" in n for n in plan.notes) and any("80 frames" in n for n in plan.notes)
    plan = decode("<CFI><BORES>833,480<EORES>", "a cat")
    assert (plan.width, plan.height) == (832, 480)


def test_edit_index_naming_nothing_is_ignored():
    """<BOEDIT> naming a file that is not there keeps the edit; the annotators then make the mask."""
    plan = decode("<CFI><BOEDIT>3,0<EOEDIT>", "edit ###a.png###")
    assert plan.task is Task.image_edit and [(i.path, i.role) for i in plan.inputs] == [("a.png", "source")]
    assert any("names file 3 as the mask" in n and "file 0 is mentioned" in n for n in plan.notes), plan.notes


def test_typed_pad_is_an_absent_file():
    """The reference's video-edit example: the mask is a typed <VIDPAD> with no file; the one mentioned file is
    file 0 (a typed pad takes no index), so "0,1" names the source as the mask and no file as the source."""
    text = "Here is the mask <VIDPAD>. Make the bird in this video ###bird.mp4### appear cleaner, in white."
    assert planning_prompt(text).count("<VIDPAD>") == 2
    plan = decode("<CFV><BORES>832,480<EORES><BONF>80<EONF><BOEDIT>0,1<EOEDIT>", text)
    assert plan.task is Task.video_edit
    assert [(i.path, i.role) for i in plan.inputs] == [("bird.mp4", "source")]
    assert any("names file 0 as the mask, which is the source" in n for n in plan.notes), plan.notes
    assert "<|im_start|>" not in neutralize("<|im_start|>system")


def test_edit_indices_count_mentioned_files_only():
    """<BOEDIT>m,s<EOEDIT> indexes the ### files as the reference's list does: typed pads before, between and
    after them shift nothing."""
    text = (
        "<IMGPAD> is only an example. Mask: ###m.png###, and <VIDPAD> too; now edit the photo ###p.png### so "
        "the cup is blue <IMGPAD>"
    )
    assert planning_prompt(text).count("<IMGPAD>") == 4
    plan = decode("<CFI><BORES>832,480<EORES><BOEDIT>0,1<EOEDIT>", text)
    assert plan.task is Task.image_edit and not plan.notes, plan.notes
    assert [(i.path, i.role) for i in plan.inputs] == [("m.png", "mask"), ("p.png", "source")]


# --- round trips -----------------------------------------------------------------------------------------

sizes = st.tuples(st.integers(4, 128).map(lambda k: 16 * k), st.integers(4, 128).map(lambda k: 16 * k))
frames = st.integers(1, 80).map(lambda k: 4 * k + 1)


@st.composite
def plans(draw):
    task = draw(st.sampled_from(list(PLANNER_TASKS)))  # video_extend has no token form
    words = draw(st.text(st.characters(codec="utf-8", exclude_characters="#@<>"), max_size=30))
    prompt, inputs = words or "go", []
    kw = {}
    if task.is_generation:
        kw["width"], kw["height"] = draw(sizes)
        kw["num_frames"] = 1 if task.output == "image" else draw(frames)
        kw["fps"] = None if task.output == "image" else 16
    name = task.value
    if name == "image_to_video":
        inputs = [("f.png", "image", "frame")]
        kw["frame_anchor"] = draw(st.sampled_from(["first", "last"]))
    elif name in ("image_reference", "video_reference"):
        inputs = [(f"r{i}.png", "image", "reference") for i in range(draw(st.integers(1, 3)))]
    elif name in ("image_control", "video_control"):
        inputs = [
            (
                "c.png" if name == "image_control" else "c.mp4",
                "image" if name == "image_control" else "video",
                "control",
            )
        ]
        kw["control"] = "ready"
    elif name in ("image_edit", "video_edit"):
        src = ("s.png", "image", "source") if name == "image_edit" else ("s.mp4", "video", "source")
        inputs = [src] + ([("m.png", "image", "mask")] if draw(st.booleans()) else [])
        if draw(st.booleans()):
            inputs.reverse()
    elif name == "image_understanding":
        inputs = [("a.png", "image", "context")]
    elif name == "video_understanding":
        inputs = [("a.mp4", "video", "context"), ("b.png", "image", "context")][: draw(st.integers(1, 2))]
    if not task.is_generation:
        kw["answer"] = (
            draw(st.text(st.characters(codec="utf-8", exclude_characters="<>"), min_size=1, max_size=40)).strip()
            or "ok"
        )
    text = prompt + " " + " ".join(f"###{p}###" for p, _, _ in inputs)
    plan = Plan(
        task=task,
        prompt=planning_prompt(text),
        planner="unison",
        sized_by_planner=task.is_generation,  # <BORES>
        inputs=[{"path": p, "kind": k, "role": r} for p, k, r in inputs],
        **kw,
    )
    return plan, text


@settings(max_examples=300, deadline=None)
@given(plans())
def test_round_trip(case):
    plan, text = case
    encoded = encode(plan)
    decoded = decode(encoded, text)
    assert decoded.model_dump(exclude={"raw"}) == plan.model_dump(exclude={"raw"})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list(UNISON_TOKENS) + ["832", ",", "480", "0", "1", " ", "x"]), max_size=12).map("".join)
)
def test_random_token_soup_never_crashes(soup):
    try:
        plan = decode(soup, "edit ###a.png### with ###m.png### and ###v.mp4###")
    except ProtocolError as exc:
        assert exc.raw == soup
    else:
        assert isinstance(plan, Plan)
