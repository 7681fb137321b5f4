"""The one boundary (unison_agent/core/boundary.py): names from outside always become paths inside their folder, distinct
names distinct files; a file is read as it was checked, even while another thread swaps it for a symlink."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.agent import scripted_tools
from unison_agent import UnisonTool
from unison_agent.contract.errors import UnisonError
from unison_agent.contract.settings import Settings
from unison_agent.core.boundary import lock_path, safe_file_name, safe_name, thread_dir, within
from unison_agent.media.files import read_image, write_image

names = st.text(min_size=1, max_size=400).filter(lambda s: "\x00" not in s and s.strip())
ROOT = Path("/srv/unison-root/outputs")


def _inside(path: Path, root: Path) -> bool:
    return os.path.normpath(path) != os.path.normpath(root) and Path(os.path.normpath(path)).parent == root


@settings(max_examples=1500, deadline=None)
@given(names)
def test_any_name_becomes_one_bounded_component_inside_its_folder(name):
    for mapped in (safe_name(name), safe_file_name(name)):
        assert 0 < len(mapped) <= 64 and len(mapped.encode()) <= 64
        assert "/" not in mapped and "\\" not in mapped and mapped not in (".", "..") and not mapped.startswith(".")
        assert _inside(ROOT / mapped, ROOT)
        assert mapped.isascii() and mapped.isprintable()
    assert _inside(thread_dir(ROOT, name), ROOT) and _inside(within(ROOT, name, suffix=".json"), ROOT)


@settings(max_examples=1500, deadline=None)
@given(names, names)
def test_distinct_names_map_to_distinct_files_also_on_case_insensitive_disks(a, b):
    if a != b:
        assert safe_name(a).lower() != safe_name(b).lower()
        assert safe_file_name(a).lower() != safe_file_name(b).lower()


@settings(max_examples=1000, deadline=None)
@given(names)
def test_no_name_can_pose_as_another_names_file(name):
    """A thread named after another thread's mapped name gets a file of its own."""
    for mapping in (safe_name, safe_file_name):
        forged = mapping(name)
        if forged != name:
            assert mapping(forged).lower() != forged.lower()


def test_plain_names_stay_readable_and_file_names_keep_their_extension():
    assert safe_name("fox") == "fox" and safe_name("web-20261203-abcd") == "web-20261203-abcd"
    assert safe_name("..").startswith("_-") and safe_name("Fox") != "Fox"
    assert safe_file_name("fox.png") == "fox.png" and safe_file_name("My Fox.PNG").endswith(".png")
    assert len(safe_name("x" * 300)) <= 64


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", None, 5])
def test_what_cannot_be_a_name_is_refused_with_its_role(bad):
    with pytest.raises(UnisonError, match="thread"):
        safe_name(bad, "thread")


def test_lock_files_are_per_database_and_thread(tmp_path):
    s1 = Settings.resolve({"home": str(tmp_path)}, env={})
    s2 = s1.replace(threads_db=tmp_path / "other.sqlite")
    assert lock_path(s1, "../x").parent == tmp_path / "locks"
    assert lock_path(s1, "t") != lock_path(s2, "t") and lock_path(s1, "a/b") != lock_path(s1, "a_b")


# ----------------------------------------------------------------------------------------------------------
# read as checked: a racing swapper


class PixelRecorder:
    """Scripted tools whose understanding model *reads the pixels* of every file it is given (plan inputs and
    history), as the real processor does; every image's top-left pixel is recorded."""

    def __init__(self, rec):
        self.inner = scripted_tools(rec)
        self.seen: list[tuple[int, int, int]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def understand(self, plan, settings, *, history=None, on_token=None):
        for path in [i.path for i in plan.inputs] + [p for m in history or [] for p in m.get("media", [])]:
            self.seen.append(tuple(int(v) for v in read_image(path)[0, 0]))
        return self.inner.understand(plan, settings, history=history, on_token=on_token)


def test_a_file_swapped_for_a_symlink_during_calls_never_brings_private_pixels(tmp_path, rec):
    allowed, private = tmp_path / "allowed", tmp_path / "private"
    allowed.mkdir(), private.mkdir()
    write_image(allowed / "fox.png", np.full((32, 32, 3), (10, 200, 10), np.uint8))
    write_image(private / "secret.png", np.full((32, 32, 3), (250, 0, 0), np.uint8))
    link = allowed / "pic.png"
    shutil.copy(allowed / "fox.png", link)
    tools = PixelRecorder(rec)
    s = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "allowed_dirs": [str(allowed)]}, env={})
    tool = UnisonTool(settings=s, tools=tools)
    stop = threading.Event()

    def swap():  # a regular allowed file <-> a symlink to the private file, as fast as it can
        tmp = allowed / ".swap.png"
        while not stop.is_set():
            os.symlink(private / "secret.png", tmp)
            os.replace(tmp, link)
            shutil.copy(allowed / "fox.png", tmp)
            os.replace(tmp, link)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    results = {"ok": 0, "refused": 0}
    try:
        for i in range(150):
            msg = tool.invoke(
                {
                    "type": "tool_call",
                    "id": str(i),
                    "name": "unison",
                    "args": {"request": "describe this picture", "files": [str(link)], "thread_id": f"race{i % 3}"},
                }
            )
            results["ok" if msg.status != "error" else "refused"] += 1
            if msg.status == "error":
                assert "secret" not in msg.content and str(private) not in msg.content  # nothing leaks by name
    finally:
        stop.set()
        swapper.join()
        tool.close()
    assert results["ok"] > 0 and tools.seen  # the race was run, and files did reach the model
    assert (250, 0, 0) not in tools.seen, f"private pixels reached the model {tools.seen.count((250, 0, 0))} times"
    assert set(tools.seen) == {(10, 200, 10)}


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path, rec):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    os.mkfifo(allowed / "pipe.png")
    s = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "allowed_dirs": [str(allowed)]}, env={})
    tool = UnisonTool(settings=s, tools=scripted_tools(rec))
    try:
        msg = tool.invoke(
            {
                "type": "tool_call",
                "id": "1",
                "name": "unison",
                "args": {"request": "describe this", "files": [str(allowed / "pipe.png")]},
            }
        )
    finally:
        tool.close()
    assert msg.status == "error" and "not a regular file" in msg.content and not rec.understood


@pytest.mark.parametrize("bad", ["a\nb.png", "x\x00.png", "tab\there.png"])
def test_a_file_name_with_control_characters_is_refused_not_ignored(tmp_path, rec, bad):
    s = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "allowed_dirs": [str(tmp_path)]}, env={})
    tool = UnisonTool(settings=s, tools=scripted_tools(rec))
    try:
        msg = tool.invoke(
            {
                "type": "tool_call",
                "id": "1",
                "name": "unison",
                "args": {"request": "describe this", "files": [str(tmp_path / bad)]},
            }
        )
    finally:
        tool.close()
    assert msg.status == "error" and "control characters" in msg.content and not rec.understood and not rec.plans


def test_a_refusal_names_the_path_as_given_not_where_it_resolves(tmp_path, rec):
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "someone-else"
    allowed.mkdir(), elsewhere.mkdir()
    write_image(elsewhere / "private.png", np.zeros((8, 8, 3), np.uint8))
    os.symlink(elsewhere / "private.png", allowed / "innocent.png")
    s = Settings.resolve({"home": str(tmp_path / "home"), "planner": "rules", "allowed_dirs": [str(allowed)]}, env={})
    tool = UnisonTool(settings=s, tools=scripted_tools(rec))
    try:
        msg = tool.invoke(
            {
                "type": "tool_call",
                "id": "1",
                "name": "unison",
                "args": {"request": "describe this", "files": [str(allowed / "innocent.png")]},
            }
        )
    finally:
        tool.close()
    assert msg.status == "error" and str(allowed / "innocent.png") in msg.content
    assert "someone-else" not in msg.content and "private.png" not in msg.content
