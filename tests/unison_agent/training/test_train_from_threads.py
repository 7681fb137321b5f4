"""Learning from corrections on the tiny demo setup: plans reviewed through Session(confirm=True), then
`unison train planner --from-threads` trains on the changed ones (the accepted plan's token plan as the target) and
`unison eval plans --from-threads` counts how often the first plan was accepted unchanged."""

from __future__ import annotations

import json
import shutil

import pytest

from unison_agent.contract.settings import Settings

SMALL = {"width": 64, "height": 64}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, tiny_root, agent_media):
    """A home whose threads hold reviewed plans: thread 'fox' (two changes the token plan carries, one it does not,
    one accepted unchanged) and thread 'plain' (accepted unchanged)."""
    from unison_agent.core.demo import demo_settings
    from unison_agent.core.session import Session

    home = tmp_path_factory.mktemp("reviews_home")
    fox = home / "my fox.png"
    shutil.copy(agent_media / "fox.png", fox)
    settings = Settings.resolve({"home": str(home), "demo": True, "demo_dir": str(tiny_root)}, env={})
    settings = demo_settings(settings)
    with Session(settings, thread="fox", confirm=True) as s:
        r = s.send(f"animate ###{fox}### for 1 second", overrides=SMALL)
        assert r.pending["plan"]["num_frames"] == 17
        s.resume("num_frames=9")
        assert s.resume("accept").ok
        s.send("make a picture of a red fox", overrides=SMALL)
        s.resume({"width": 96})
        assert s.resume("accept").ok
        s.send("make a picture of a cat", overrides=SMALL)
        assert s.resume("accept").ok
        s.send("make a picture of a dog", overrides=SMALL)
        s.resume({"prompt": "a dog in the snow"})  # the token plan does not carry the prompt
        assert s.resume("accept").ok
    with Session(settings, thread="plain", confirm=True) as s:
        s.send("make a picture of a bird", overrides=SMALL)
        assert s.resume("accept").ok
    return {"home": home, "fox": fox}


def _train(tmp_path, tiny_qwen, home, *extra):
    from unison_agent.cli import main

    out = tmp_path / "adapter"
    args = ["train", "planner", *extra, "-o", str(out), "--max-steps", "1", "--batch-size", "2"]
    args += ["--device", "cpu", "--dtype", "float32", "--home", str(home)]
    args += ["--qwen", tiny_qwen["qwen"], "--unison", tiny_qwen["unison"]]
    code = main(args)
    info = json.loads((out / "training.json").read_text()) if code == 0 else None
    return code, info


def test_train_planner_from_threads_trains_on_the_changed_plans(reviewed, tiny_qwen, tmp_path, capsys):
    home = reviewed["home"]
    code, info = _train(tmp_path / "a", tiny_qwen, home, "--from-threads", "--val-fraction", "0", "--no-eval")
    assert code == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "5 reviewed plan(s), 3 changed; 2 example(s)" in printed
    assert "left out: thread 'fox' turn 4 step 1: changed only prompt" in printed
    assert info["train_ids"] == ["fox/review-1", "fox/review-2"] and info["val_ids"] == []
    threads = info["sources"]["threads"]
    assert [(e["source"], e["target"]) for e in threads["examples"]] == [
        ("thread 'fox' turn 1 step 1", "<CFV><BORES>64,64<EORES><BONF>8<EONF><BOFIDX>0<EOFIDX>"),
        ("thread 'fox' turn 2 step 1", "<CFI><BORES>96,64<EORES>"),
    ]
    assert len(threads["left_out"]) == 1

    data = tmp_path / "cases.jsonl"
    data.write_text(json.dumps({"id": "cat", "prompt": "make a video of a cat", "expect": {"task": "text_to_video"}}))
    code, info = _train(
        tmp_path / "b", tiny_qwen, home, str(data), "--from-threads", "--thread", "fox", "--val-fraction", "0.34"
    )
    assert code == 0  # with a validation split: eval plans before and after, as for a DATA file
    assert sorted(info["train_ids"] + info["val_ids"]) == ["cat", "fox/review-1", "fox/review-2"]
    assert info["sources"]["data"]["cases"] == 1 and set(info["validation"]) == {"before", "after"}


def test_no_changed_reviews_is_a_clear_error(reviewed, tiny_qwen, tmp_path, capsys):
    code, _ = _train(tmp_path, tiny_qwen, reviewed["home"], "--from-threads", "--thread", "plain")
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no reviewed plans were changed in" in err and "(thread 'plain')" in err and "--confirm" in err


def test_a_review_whose_files_are_gone_is_named_not_dropped(reviewed, tiny_qwen, tmp_path, capsys):
    from unison_agent.cli import main

    home, fox = reviewed["home"], reviewed["fox"]
    moved = fox.with_suffix(".moved")
    fox.rename(moved)
    try:
        code, _ = _train(tmp_path / "a", tiny_qwen, home, "--from-threads", "--val-fraction", "0", "--no-eval")
        assert code == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"thread 'fox' turn 1 step 1: {fox.resolve()}" in err and "--skip-missing" in err
        code, info = _train(
            tmp_path / "b", tiny_qwen, home, "--from-threads", "--skip-missing", "--val-fraction", "0", "--no-eval"
        )
        assert code == 0 and info["train_ids"] == ["fox/review-2"]
        assert "left out: thread 'fox' turn 1 step 1" in " ".join(capsys.readouterr().out.split())
    finally:
        moved.rename(fox)

    assert main(["eval", "plans", "--from-threads", "--json", "--home", str(home)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert [figures[k] for k in ("reviewed", "accepted_unchanged", "changed", "cancelled")] == [5, 2, 3, 0]
    assert figures["share_accepted_unchanged"] == pytest.approx(0.4)
    assert {k: v["changed"] for k, v in figures["fields"].items()} == {"num_frames": 1, "width": 1, "prompt": 1}
