"""Messages name real options: every ``--option`` a user-facing string of the package mentions is one the command
line knows (with a value the option accepts, where it has choices), and the generation flags the out-of-memory
message suggests exist on the commands that generate."""

from __future__ import annotations

import argparse
import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from unison_agent.cli import build_parser, settings_from_args

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIRS = ("unison_agent", "tools", "graphs", "prompts")
OPTION_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:[ =]([a-z0-9_]+(?:\s*/\s*[a-z0-9_]+)*))?")
EXTERNAL = {"--local-dir": "huggingface-cli"}
"""Options of other programs that a hint may name, with the program's name that must stand in the same string."""


def known_options() -> dict[str, list[argparse.Action]]:
    """Every option string of the ``unison`` parser and its subcommands, with the actions behind it."""
    known: dict[str, list[argparse.Action]] = defaultdict(list)

    def collect(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            for option in action.option_strings:
                known[option].append(action)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    collect(sub)

    collect(build_parser())
    return known


def package_strings() -> list[tuple[str, int, str]]:
    """(file, line, text) of every string literal in the package's Python source, and every prompt file."""
    found = []
    for folder in PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            rel = str(path.relative_to(ROOT))
            if path.suffix == ".py":
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str):
                        found.append((rel, node.lineno, node.value))
            elif path.is_file() and path.suffix in (".txt", ".yaml", ".j2", ".md", ".json"):
                found.append((rel, 1, path.read_text(encoding="utf-8")))
    return found


def hints() -> list[tuple[str, int, str, str | None, str]]:
    """(file, line, option, value or None, the string) for every ``--option`` in a package string."""
    return [
        (f, line, m.group(1), m.group(2), text) for f, line, text in package_strings() for m in OPTION_RE.finditer(text)
    ]


def test_every_hinted_option_is_known_to_the_parser():
    known = known_options()
    problems = []
    for file, line, option, value, text in hints():
        if option in EXTERNAL and EXTERNAL[option] in text:
            continue
        if option not in known:
            problems.append(f"{file}:{line}: {option} is not an option of `unison` (in {text.strip()[:100]!r})")
            continue
        choices = [set(a.choices) for a in known[option] if a.choices]
        if value and choices:
            for part in (p.strip() for p in value.split("/")):
                if not any(part in c for c in choices):
                    problems.append(f"{file}:{line}: {option} {part}: not one of {sorted(set().union(*choices))}")
    assert not problems, "\n".join(problems)


def test_the_scan_sees_the_hints_it_is_meant_to_check():
    seen = {(f, option) for f, _, option, _, _ in hints()}
    assert ("unison_agent/models/pipeline.py", "--offload") in seen and (
        "unison_agent/models/pipeline.py",
        "--vae-tiling",
    ) in seen
    assert ("unison_agent/models/weights.py", "--demo") in seen
    assert ("unison_agent/models/vace_loader.py", "--vace") in seen


def test_the_checker_catches_an_unknown_option_and_a_wrong_choice():
    known = known_options()
    bad = [m.groups() for m in OPTION_RE.finditer("raise --vram-limit or use --offload layers/sequential")]
    assert bad == [("--vram-limit", "or"), ("--offload", "layers/sequential")]
    assert "--vram-limit" not in known
    assert "layers" not in known["--offload"][0].choices and "sequential" in known["--offload"][0].choices


@pytest.mark.parametrize("command", [["run", "x"], ["chat"], ["chain", "c.yaml"]])
def test_generation_commands_take_offload_and_vae_tiling(command):
    parser = build_parser()
    name, *rest = command
    s = settings_from_args(parser.parse_args([name, "--offload", "sequential", "--vae-tiling", *rest]))
    assert s.offload == "sequential" and s.vae_tiling is True
    s = settings_from_args(parser.parse_args([name, *rest]))
    assert s.offload == "none" and s.vae_tiling is False
    with pytest.raises(SystemExit):
        parser.parse_args([name, "--offload", "layers", *rest])


def test_checkpoint_flags_named_by_weight_errors_set_the_settings(tmp_path):
    args = build_parser().parse_args(
        [
            "doctor",
            "--vace",
            str(tmp_path),
            "--projector",
            str(tmp_path / "p.pth"),
            "--unison",
            "a/b",
            "--planner-merged",
            str(tmp_path),
            "--qwen",
            "q/r",
        ]
    )
    s = settings_from_args(args)
    assert (s.vace, s.projector, s.unison, s.planner_merged, s.qwen) == (
        str(tmp_path),
        str(tmp_path / "p.pth"),
        "a/b",
        str(tmp_path),
        "q/r",
    )
