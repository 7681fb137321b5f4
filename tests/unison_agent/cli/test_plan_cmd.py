"""`cli.py plan`: rich table, contract JSON, clear errors without tracebacks; the package installs cleanly."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from unison_agent.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_plan_json(capsys, media_dir):
    rc = main(["plan", "--planner", "rules", "--json", f"Animate ###{media_dir / 'photo.png'}### into a 2 second 720p video"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "image_to_video" and data["num_frames"] == 33 and data["fps"] == 16
    assert (data["width"], data["height"]) == (96, 64) and data["frame_anchor"] == "first"  # never upscaled
    assert any("size 96x64" in n for n in data["notes"])
    assert data["inputs"] == [{"path": str(media_dir / "photo.png"), "kind": "image", "role": "frame"}]
    assert data["prompt"] == "Animate <IMGPAD> into a 2 second 720p video"


def test_plan_table(capsys):
    assert main(["plan", "--planner", "rules", "make a 3-second video of a fox"]) == 0
    out = capsys.readouterr().out
    assert "text_to_video" in out and "49 at 16 fps" in out and "832x480" in out


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("describe ###/no/such/file.png###", "no such file"),
        ("a 4K picture of a mountain", "between 64 and 2048"),
        ("describe ###notes.docx###", "unsupported file type"),
    ],
)
def test_plan_errors_exit_nonzero_without_traceback(prompt, message):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "plan", "--planner", "rules", prompt],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert message in proc.stderr.replace("\n", " ")
    assert "Traceback" not in proc.stderr


def test_plan_does_not_import_torch():
    code = (
        "import sys; from unison_agent.cli import main; main(['plan','--planner','rules','--json','a cat picture']);"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_wheel_installs_folders_inside_the_namespace(tmp_path):
    """`pip install .` ships tools/, graphs/, prompts/ as unison_agent.tools/.graphs/.prompts, never top level."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("unison_agent-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "unison_agent/tools/__init__.py" in names
    assert "unison_agent/graphs/__init__.py" in names
    assert "unison_agent/prompts/__init__.py" in names
    assert any(n.startswith("unison_agent/prompts/") and n.endswith(".txt") for n in names), "prompt files missing"
    assert not any(n.split("/")[0] in ("tools", "graphs", "prompts", "tests") for n in names)
    for init in (ROOT / "unison_agent").rglob("__init__.py"):  # every subpackage is declared in pyproject
        assert init.relative_to(ROOT).as_posix() in names, f"{init} is not packaged"
    for module in ROOT.glob("tools/*.py"):
        assert f"unison_agent/tools/{module.name}" in names
    for module in ROOT.glob("graphs/*.py"):
        assert f"unison_agent/graphs/{module.name}" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "unison = unison_agent.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
