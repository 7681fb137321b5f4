"""The README's quick start stays true: two commands, and CI runs the second one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_two_commands_and_ci_runs_the_test_one():
    commands = quick_start_commands()
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert "pip install" in install_and_run and "cli.py chat --demo" in install_and_run
    assert "pip install" in install_and_test and install_and_test.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert install_and_test in ci


def test_readme_lists_the_twelve_tasks_and_every_command():
    from unison_agent.cli import COMMANDS
    from unison_agent.contract.plan import Task

    text = (ROOT / "README.md").read_text()
    for task in Task:
        assert f"`{task.value}`" in text
    for name in COMMANDS:
        assert f"unison {name}" in text
