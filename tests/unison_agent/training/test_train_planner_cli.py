"""`unison train planner` end to end on the tiny kit: checkpoints, --resume, the before/after table, and the output
loads with --unison and plans through `unison plan`."""

from __future__ import annotations

import json

from tests.unison_agent.training.conftest import kit_flags


def test_train_resume_and_use_the_adapter(tmp_path, tiny_qwen, capsys):
    from unison_agent.cli import main

    cases = [
        {"prompt": "make a video of a cat", "expect": {"task": "text_to_video"}},
        {"prompt": "draw a red fox in the snow", "expect": {"task": "text_to_image"}},
        {"prompt": "animate {photo} as the first frame", "expect": {"task": "image_to_video"}},
        {"prompt": "what is the capital of France?", "expect": {"task": "text_understanding"}, "answer": "Paris."},
    ]
    data = tmp_path / "cases.jsonl"
    data.write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    out = tmp_path / "adapter"
    common = [
        "train",
        "planner",
        str(data),
        "-o",
        str(out),
        "--batch-size",
        "2",
        "--save-every",
        "1",
        "--val-fraction",
        "0.25",
        *kit_flags(tmp_path / "home", tiny_qwen),
    ]
    assert main([*common, "--max-steps", "2", "--no-eval"]) == 0
    assert (out / "checkpoints" / "step-000002" / "trainer_state.json").is_file()
    assert main([*common, "--max-steps", "2", "--resume", "--no-eval"]) == 0  # nothing left: resumes at step 2
    assert main([*common, "--max-steps", "3", "--resume"]) == 2  # another run's checkpoint: refused
    assert "belongs to a run of 2 steps" in capsys.readouterr().err.replace("\n", "")
    assert main([*common, "--max-steps", "3", "--lr", "1e-3"]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps at 80 columns
    assert "starting adapter" in printed and "trained" in printed and f"--unison {out}" in printed
    info = json.loads((out / "training.json").read_text())
    assert set(info["validation"]) == {"before", "after"}
    assert (out / "adapter_config.json").is_file() and (out / "projector.pth").is_file()

    code = main(
        [
            "plan",
            "make a video of a dog",
            "--json",
            "--planner",
            "unison",
            "--unison",
            str(out),
            "--qwen",
            tiny_qwen["qwen"],
            "--device",
            "cpu",
            "--home",
            str(tmp_path / "home"),
        ]
    )
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    plan = plan[0] if isinstance(plan, list) else plan
    assert plan["planner"] == "unison"
