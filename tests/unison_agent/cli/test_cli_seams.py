"""The CLI's seams, as a person meets them: every file a turn made shown with its id (an edit's mask too) and
reachable as "#id" in the next turn; `/plan TEXT` in chat plans TEXT without running it; an answer the model left
empty says so; `doctor` reports the installed versions; each command's --help lists only the options it uses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.unison_agent.cli.test_cli import cli_env  # noqa: F401  (scripted tools, rules planner, temp home)
from tests.unison_agent.serve.conftest import demo_models, server_env  # noqa: F401  (demo models built once)
from unison_agent.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_demo_chat_from_a_pipe_shows_the_mask_with_its_id_and_reaches_it_as_hash_3(
    server_env,  # noqa: F811
    demo_models,  # noqa: F811
    media_dir,
    tmp_path,
):
    """The reported case: an upload animated (#1, #2), then an edit whose annotator mask is #3 and output #4;
    "#3" then names the mask, in /plan TEXT (nothing runs) and in a turn."""
    env = {**server_env, "UNISON_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    script = (
        "\n".join(
            [
                f"animate ###{media_dir / 'photo.png'}### for 1 second",
                "make the square in #1 white",
                "/plan animate #3 for 1 second",
                "/media",
                "animate #3 for 1 second",
                "/media",
            ]
        )
        + "\n"
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "chat", "--demo"],
        input=script,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"^image_edit image #4 \(\d+x\d+\); mask #3 made by the annotator$", out, re.M), out
    mask = re.search(r"^  #3 mask (\S+\.png)$", out, re.M).group(1)
    assert re.search(r"^  #4 \S+image_edit-\S+\.png$", out, re.M)
    assert "plan: image_to_video" in " ".join(out.split()) and mask.rsplit("/", 1)[-1] in out.split("#1 image")[1]
    first, second = out.split("#1 image")[1:]
    assert re.findall(r"^#(\d+) ", "#1 image" + first, re.M) == ["1", "2", "3", "4"]  # /plan ran nothing
    assert re.search(r"^#3 image annotation turn 2 \(mask\)", "#1 image" + first, re.M)
    assert re.findall(r"^#(\d+) ", "#1 image" + second, re.M) == ["1", "2", "3", "4", "5"]


CHAT_SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.fixtures.agent import Recorder, ScriptedTools, scripted_tools
    from unison_agent.graphs import toolbox
    rec = Recorder()
    ScriptedTools.understand = lambda self, plan, settings, history=None, on_token=None: ""  # a model with no text
    toolbox.default_tools = lambda: scripted_tools(rec)
    from unison_agent.cli import main
    code = main(["chat"] + sys.argv[1:])
    print("generated:", len(rec.generated))
    sys.exit(code)
    """
)


def test_chat_plan_text_plans_without_running_and_an_empty_answer_says_so(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UNISON_HOME": str(tmp_path / "home"), "UNISON_PLANNER": "rules"}
    script = (
        "/plan\n/plan make a 2-second video of a cat\n/media\nmake a picture of a red fox\n/plan\n"
        "what animal is in the first image?\n/plan describe ###/no/such.png###\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHAT_SCRIPT],
        input=script,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    head, after_media = out.split("no media yet")
    assert head.startswith("no plan yet") and "plan: text_to_video" in head and "33 at 16 fps" in head
    assert "plan: text_to_image" in after_media  # /plan alone: the last plan
    assert "the model gave no answer; try asking again in other words" in after_media
    assert "no such file" in after_media and "generated: 1" in out  # only the fox was generated


def test_run_json_lists_every_made_file_with_its_id(cli_env, capsys, agent_media):  # noqa: F811
    assert main(["run", "--json", "--thread", "ids", f"make the square white in ###{agent_media / 'fox.png'}###"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(f["id"], f["role"]) for f in out["files"]] == [(2, "mask"), (3, "output")]
    assert out["files"][1]["path"] == out["outputs"][0] and "mask #2" in out["answer"]
    assert main(["run", "--json", "--thread", "ids", "animate #2 for 1 second"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plan"]["inputs"][0]["path"].rsplit("/", 1)[-1].startswith("mask")


def test_doctor_reports_installed_versions(cli_env, capsys):  # noqa: F811
    assert main(["doctor", "--json"]) == 0
    packages = json.loads(capsys.readouterr().out)["packages"]
    assert packages["langgraph"] == version("langgraph") and packages["xgrammar"] == version("xgrammar")
    assert main(["doctor"]) == 0
    line = next(x for x in capsys.readouterr().out.split("\n\n")[0].splitlines() if "packages" in x)
    assert "None" not in line


@pytest.mark.parametrize(
    "command, absent, present",
    [
        ("download", ["--verify", "--demo", "--planner", "--device", "SETTING_"], ["--home DIR", "--vace ID_OR_DIR"]),
        ("annotate", ["--verify", "--planner", "--vace", "SETTING_"], ["--device DEVICE", "--demo"]),
        ("plan", ["--verify", "--vace", "SETTING_"], ["--planner {auto,unison,qwen,rules}", "--demo"]),
        ("run", ["SETTING_"], ["--verify N", "--verify-threshold P", "--home DIR", "--demo"]),
    ],
)
def test_help_lists_only_the_options_a_command_uses(command, absent, present):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), command, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for text in absent:
        assert text not in proc.stdout, (command, text)
    for text in present:
        assert text in proc.stdout, (command, text)
