"""`cli.py plan`: rich table, contract JSON, clear errors without tracebacks; the package installs cleanly."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from unison_agent.cli import main

CHECKOUT_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".ruff_cache", ".hypothesis"
)
ROOT = Path(__file__).resolve().parents[3]


def test_plan_json(capsys, media_dir):
    rc = main(
        ["plan", "--planner", "rules", "--json", f"Animate ###{media_dir / 'photo.png'}### into a 2 second 720p video"]
    )
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
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
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


def test_wheel_installs_folders_inside_the_namespace(wheel):
    """`pip install .` ships tools/, graphs/, prompts/ as unison_agent.tools/.graphs/.prompts, never top level."""
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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install .` builds from this checkout (built once for the module, from a copy of its files, so
    that setuptools' build/ folder neither lands in the checkout nor carries modules an earlier build left)."""
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(ROOT, src, symlinks=True, ignore=CHECKOUT_IGNORE)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next(out.glob("unison_agent-*.whl"))


def _venv_with_wheel(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding a NON-editable install of the wheel; the test environment's packages (torch, diffusers...)
    are reachable through a .pth line, so nothing is downloaded. The editable install of the test environment is not:
    a path named in a .pth file is not itself a site directory, so its own .pth files (the editable finder) are not
    processed."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return venv


def test_readme_first_command_works_on_a_non_editable_install(tmp_path, wheel):
    """The README's first command is `pip install .` then `python cli.py ...` in the checkout: the checkout's
    `unison_agent/` (first on sys.path) must be complete, and the installed `unison` must work from anywhere."""
    venv = _venv_with_wheel(tmp_path, wheel)
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, symlinks=True, ignore=CHECKOUT_IGNORE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["UNISON_HOME"] = str(tmp_path / "home")
    request = ["run", "--demo", "--json", "--width", "64", "--height", "64", "make a picture of a red fox"]

    proc = subprocess.run(
        [str(venv / "bin" / "python"), "cli.py", *request],
        capture_output=True,
        text=True,
        cwd=checkout,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["task"] == "text_to_image" and Path(out["outputs"][0]).is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import unison_agent.graphs.graph as g; print(g.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout  # the wheel's copy, not the checkout
    proc = subprocess.run(
        [str(venv / "bin" / "unison"), *request], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["task"] == "text_to_image"
