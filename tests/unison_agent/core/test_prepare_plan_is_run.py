"""`plan` shows what `run` does: the plans prepared ahead (Session.plan / `cli.py plan --json`) equal the plans the
graph hands to generate/understand, for single, compound, referring and demo requests."""

from __future__ import annotations

import json

import pytest

from unison_agent.core.demo import demo_defaults
from unison_agent.core.prepare import placeholder


def _same_as_run(planned, result, outputs_by_step):
    """Compare one prepared step with what ran; placeholders stand for earlier steps' real outputs."""
    want = planned.plan.to_json()
    for ref in want["inputs"]:
        for i, out in outputs_by_step.items():
            if ref["path"] == placeholder(i, "video" if out.endswith(".mp4") else "image"):
                ref["path"] = out
    assert result["plan"] == want, (planned.text, result["plan"], want)


def _requests(agent_media):
    fox, clip, mask = agent_media / "fox.png", agent_media / "clip.mp4", agent_media / "mask.png"
    return [
        "make a picture of a red fox",
        "make a picture of a red fox, then turn it into a 1-second video",
        "make a picture of a red fox, then turn it into a 1-second video, then make the snow purple",
        f"make the fox in ###{fox}### white",
        f"Edit ###{fox}### with the mask ###{mask}###: add a lamp",
        f"make a video of a robot dancing following the pose of ###{clip}###",
        f"animate ###{fox}### into a 2 second video",
        "what is the capital of France?",
        f"describe ###{fox}###, then make a 1-second video of it",
    ]


@pytest.mark.parametrize("index", range(9))
@pytest.mark.parametrize("demo", [False, True], ids=["method-defaults", "demo"])
def test_plan_equals_run(make_session, rec, agent_media, settings, index, demo):
    text = _requests(agent_media)[index]
    s = make_session(thread=f"p{index}{demo}", settings=demo_defaults(settings) if demo else settings)
    planned = s.plan(text)
    r = s.send(text)
    assert r.ok, r.errors
    assert len(planned) == len(r.results)
    outputs = {i: res["outputs"][-1] for i, res in enumerate(r.results) if res.get("outputs")}
    for step, result in zip(planned, r.results, strict=True):
        _same_as_run(step, result, outputs)
    generated = [g["plan"] for g in rec.generated]
    for g in generated:  # what reached generate has the planned size (demo: 128x128 unless the input is smaller)
        assert (g.width, g.height) == next(
            (p.plan.width, p.plan.height) for p in planned if p.plan and p.plan.task == g.task
        )
    if demo and index == 0:
        assert (planned[0].plan.width, planned[0].plan.height) == (128, 128)


def test_referring_requests_plan_as_they_run(make_session, rec, agent_media):
    s = make_session(thread="refs")
    s.send(f"describe ###{agent_media / 'fox.png'}###")  # #1
    s.send("make a 2-second video of a red fox in the snow")  # #2
    for text in (
        "animate the first image",
        "make the snow purple in the last video",
        "describe #2",
        "turn it into a picture",
    ):
        planned = s.plan(text)
        r = s.send(text)
        assert r.ok, r.errors
        for step, result in zip(planned, r.results, strict=True):
            _same_as_run(step, result, {})


def test_cli_plan_json_lists_every_step_with_run_sizes(make_session, rec, monkeypatch, agent_home, capsys):
    """`cli.py plan --demo --json` for a compound request: a list, sizes as `run --demo` makes them."""
    from tests.fixtures.agent import scripted_tools
    from unison_agent.cli import main
    from unison_agent.contract.settings import Settings
    from unison_agent.graphs import toolbox

    monkeypatch.setenv("UNISON_HOME", str(agent_home))
    monkeypatch.setattr(toolbox, "default_tools", lambda: scripted_tools(rec))
    text = "make a picture of a red fox, then turn it into a 1-second video"
    assert main(["plan", "--demo", "--json", text]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["task"] for p in shown] == ["text_to_image", "image_to_video"]
    assert [(p["width"], p["height"], p["num_frames"]) for p in shown] == [(128, 128, 1), (128, 128, 17)]
    assert shown[1]["inputs"][0]["path"] == placeholder(0, "image")
    s = make_session(thread="cli", settings=demo_defaults(Settings.resolve({"home": str(agent_home)}, env={})))
    r = s.send(text)
    made = [(g["plan"].width, g["plan"].height, g["plan"].num_frames) for g in rec.generated]
    assert made == [(p["width"], p["height"], p["num_frames"]) for p in shown]
    assert [res["plan"]["task"] for res in r.results] == [p["task"] for p in shown]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_requests_are_refused_by_plan_as_by_run(text, capsys, monkeypatch, agent_home):
    from unison_agent.cli import main

    monkeypatch.setenv("UNISON_HOME", str(agent_home))
    assert main(["plan", text]) == 2
    plan_err = capsys.readouterr().err
    assert main(["run", text]) == 2
    run_err = capsys.readouterr().err
    assert "empty request" in plan_err and plan_err == run_err


def test_turn_wide_output_settings_do_not_fail_an_answer(make_session, rec):
    """`run --width 64 "what is 2+2?"`: the size is for generations; an answer ignores it, with a note."""
    s = make_session(thread="sizes")
    r = s.send("what is 2+2?", overrides={"width": 64, "height": 64, "num_frames": 5})
    assert r.ok and r.task == "text_understanding", r.errors
    assert any("not used: this step answers in text" in n for n in r.results[0]["notes"])
