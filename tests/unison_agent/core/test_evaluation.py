"""`unison eval plans`: the shipped case set (150+ cases over all twelve tasks, not the tests' prompts), the report's
figures, and clear errors for a bad case file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unison_agent.cli import main
from unison_agent.contract.plan import PLANNER_TASKS
from unison_agent.core.evaluation import FIELDS, load_cases

ROOT = Path(__file__).resolve().parents[3]
CASES = ROOT / "evals" / "plan_cases.jsonl"


def test_shipped_cases_cover_every_task_and_are_not_the_tests_prompts():
    cases = load_cases(CASES)
    assert len(cases) >= 150
    assert {c["expect"]["task"] for c in cases} == {t.value for t in PLANNER_TASKS}
    test_text = "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != "test_reference_examples.py"
    )
    reused = [c["prompt"] for c in cases if c["prompt"].split("{")[0].strip() and c["prompt"] in test_text]
    assert reused == []


def test_eval_plans_json_report(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("UNISON_HOME", str(tmp_path / "home"))
    assert main(["eval", "plans", str(CASES), "--planner", "rules", "--json", "--media", str(tmp_path / "m")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["planner"] == "rules" and report["cases"] == len(load_cases(CASES))
    assert set(report["accuracy"]) <= set(FIELDS) and report["accuracy"]["task"]["checked"] == report["cases"]
    assert report["accuracy"]["task"]["rate"] >= 0.9  # the rules planner's figure is in the README
    confusion = report["confusion"]
    assert sum(sum(row.values()) for row in confusion.values()) == report["cases"]
    assert len(report["failing"]) == report["cases"] - report["all_fields_right"]
    assert report["latency"]["median_s"] > 0
    assert (tmp_path / "m" / "pose.mp4").is_file()  # the synthetic media the cases name


def test_eval_table_output(monkeypatch, tmp_path, capsys):
    small = tmp_path / "few.jsonl"
    small.write_text("\n".join(CASES.read_text().splitlines()[:3]) + "\n")
    monkeypatch.setenv("UNISON_HOME", str(tmp_path / "home"))
    assert main(["eval", "plans", str(small), "--planner", "rules"]) == 0
    out = capsys.readouterr().out
    assert "planning accuracy" in out and "task confusion" in out and "latency per plan" in out


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ('{"prompt": "x"}', '"expect"'),
        ('{"prompt": "x", "expect": {"task": "text_to_image", "colour": 1}}', "unknown expected field"),
    ],
)
def test_bad_case_files_say_which_line(tmp_path, monkeypatch, capsys, line, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line + "\n")
    monkeypatch.setenv("UNISON_HOME", str(tmp_path / "home"))
    assert main(["eval", "plans", str(bad)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert f"{bad}:1" in err.replace(" ", "") or "bad.jsonl:1" in err.replace(" ", "")
    assert message in err
