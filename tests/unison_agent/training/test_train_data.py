"""`unison train planner` refuses bad data with the file and line, before any model loads."""

from __future__ import annotations

import json

import pytest

from unison_agent.cli import main
from unison_agent.training.data import DataError, load_examples


def _write(tmp_path, *lines):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


GOOD = {"id": "a", "prompt": "make a video of a cat", "expect": {"task": "text_to_video"}}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"prompt": "make a cat", "expect": {"task": "text_to_sculpture"}}, "unknown task 'text_to_sculpture'"),
        (
            {"prompt": "edit it", "expect": {"task": "image_edit", "roles": ["source"]}},
            "1 role(s) for 0 mentioned file(s)",
        ),
        (
            {"prompt": "edit {photo}", "expect": {"task": "image_edit", "roles": ["mask"]}},
            "the plan contract refuses the expected plan",
        ),
        (
            {"prompt": "make a picture", "expect": {"task": "text_to_image", "width": 833}},
            "the plan contract refuses the expected plan",
        ),
        ({"prompt": "edit ###missing.png###", "expect": {"task": "image_edit"}}, "missing.png"),
        ({"prompt": "why is the sky blue?", "expect": {"task": "text_understanding"}}, "no target"),
        ({"prompt": "make {nothing}", "expect": {"task": "text_to_image"}}, "not one of"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_line_is_named(tmp_path, bad, message):
    from unison_agent.core.evaluation import make_media

    media = make_media(tmp_path / "media")
    path = _write(tmp_path, GOOD, bad)
    with pytest.raises(DataError) as err:
        load_examples(path, media)
    assert f"{path}:2:" in str(err.value) and message in str(err.value)


def test_targets_are_the_token_plan_or_the_answer(tmp_path):
    from unison_agent.core.evaluation import make_media

    media = make_media(tmp_path / "media")
    path = _write(
        tmp_path,
        GOOD,
        {"prompt": "animate {photo} as the last frame", "expect": {"task": "image_to_video", "frame_anchor": "last"}},
        {
            "prompt": "replace the dog in {photo} with the mask {mask}",
            "expect": {"task": "image_edit", "roles": ["source", "mask"]},
        },
        {"prompt": "what is in {photo}?", "expect": {"task": "image_understanding"}, "answer": "A red square."},
    )
    examples = load_examples(path, media)
    assert [e.target for e in examples] == [
        "<CFV><BORES>832,480<EORES><BONF>80<EONF>",
        "<CFV><BORES>832,480<EORES><BONF>80<EONF><BOFIDX>80<EOFIDX>",
        "<CFI><BORES>832,480<EORES><BOEDIT>1,0<EOEDIT>",
        "A red square.",
    ]
    assert examples[1].prompt == "animate <IMGPAD> as the last frame"


def test_the_cli_names_the_line_and_trains_nothing(tmp_path, capsys):
    path = _write(tmp_path, GOOD, {"prompt": "x", "expect": {"task": "nope"}})
    out = tmp_path / "adapter"
    code = main(["train", "planner", str(path), "-o", str(out), "--fresh", "--home", str(tmp_path / "home")])
    assert code == 2
    assert f"{path}:2: unknown task 'nope'" in capsys.readouterr().err.replace("\n", "")
    assert not out.exists()
