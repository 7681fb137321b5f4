"""The LangChain tool's file boundary: whatever the calling model writes, only files inside ``allowed_dirs`` and the
tool's own outputs reach planning, understanding, annotation or generation; tool threads are kept apart from the
person's CLI threads unless the application opens them (``shared_threads=True``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.agent import scripted_tools
from unison_agent import UnisonTool
from unison_agent.contract.errors import AccessError
from unison_agent.contract.settings import Settings
from unison_agent.core.session import Session, list_threads


def call(tool, args, id="c1"):
    return tool.invoke({"type": "tool_call", "id": id, "name": "unison", "args": args})


@pytest.fixture
def private(tmp_path, agent_media) -> Path:
    """A folder the tool may not read, with an image and a video in it."""
    d = tmp_path / "private"
    d.mkdir()
    shutil.copy(agent_media / "fox.png", d / "secret.png")
    shutil.copy(agent_media / "clip.mp4", d / "secret.mp4")
    return d


def tool_settings(home, *allowed) -> Settings:
    return Settings.resolve(
        {"home": str(home), "planner": "rules", "steps": 2, "allowed_dirs": [str(d) for d in allowed]}, env={}
    )


@pytest.fixture
def make_tool(agent_home, agent_media, rec):
    made = []

    def make(*allowed, **kw):
        t = UnisonTool(
            settings=tool_settings(agent_home, *(allowed or (agent_media,))), tools=scripted_tools(rec), **kw
        )
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.fixture
def cli_thread(agent_home, agent_media, private, rec):
    """The person's own `unison chat --thread notes`: an allowed file (#1), a private file (#2), an output (#3)."""
    s = Session(
        Settings.resolve({"home": str(agent_home), "planner": "rules", "steps": 2}, env={}),
        thread="notes",
        tools=scripted_tools(rec),
        confirm=False,
    )
    s.send(f"describe ###{agent_media / 'fox.png'}###")
    s.send(f"what is in ###{private / 'secret.png'}###?")
    made = s.send("make a picture of a red fox")
    assert [m["id"] for m in s.media()] == [1, 2, 3] and made.outputs
    yield s
    s.close()


def refused(msg, path) -> None:
    assert msg.status == "error", msg.content
    assert str(path) in msg.content and "allowed_dirs" in msg.content and "UNISON_ALLOWED_DIRS" in msg.content


def seen_paths(rec) -> set[str]:
    """Every file the scripted models were given: plan inputs, history media, annotator and generation inputs."""
    paths = set()
    for u in rec.understood:
        paths |= {i.path for i in u["plan"].inputs}
        paths |= {p for m in u["history"] or [] for p in m.get("media", [])}
    paths |= {a["input"] for a in rec.annotated}
    for g in rec.generated:
        paths |= {i.path for i in g["plan"].inputs} | set(g["files"].values())
    return paths


def test_tool_threads_are_apart_from_cli_threads(make_tool, cli_thread, private, rec):
    tool = make_tool()
    settings = tool.resolved_settings()
    assert settings.threads_db != cli_thread.settings.threads_db
    assert settings.outputs_dir != cli_thread.settings.outputs_dir
    before = cli_thread.history()
    rec.understood.clear()
    for request in ("describe #2", "what did I show you before?", "describe the last image"):
        msg = call(tool, {"request": request, "thread_id": "notes"})
        assert msg.status != "error" and msg.artifact["task"] == "text_understanding"
    # a fresh tool thread: no earlier files, no earlier messages of the person's thread
    assert [u["plan"].inputs for u in rec.understood] == [[], [], []]
    assert all(m["content"] != cli_thread.history()[1]["request"] for u in rec.understood for m in u["history"])
    assert not any(str(private) in p for p in seen_paths(rec))
    assert cli_thread.history() == before  # the person's thread was not touched
    assert "notes" in list_threads(settings.threads_db)


def test_a_thread_the_tool_did_not_create_is_resumed_only_when_allowed(make_tool, cli_thread, agent_media, rec):
    closed = make_tool()
    msg = call(closed, {"request": "describe #1", "thread_id": "notes"})
    assert msg.artifact["plan"]["inputs"] == []  # the person's #1 is not visible
    shared = make_tool(shared_threads=True)
    msg = call(shared, {"request": "describe #1", "thread_id": "notes"})
    assert msg.status != "error" and msg.artifact["task"] == "image_understanding"
    used = Path(msg.artifact["plan"]["inputs"][0]["path"])  # the checked copy of fox.png, in the tool's own folder
    assert used.name == "fox.png" and used.read_bytes() == (agent_media / "fox.png").read_bytes()
    assert used.is_relative_to(shared.resolved_settings().outputs_dir.parent / "inputs")


@pytest.mark.parametrize(
    "request_text, what",
    [
        ("describe #2", "private"),  # a reference by id to a file the person mentioned
        ("describe #3", "cli_output"),  # the person's own output
        ("describe the last image", "cli_output"),  # a reference by words
        ("turn it into a video", "cli_output"),  # a pronoun, into generation
        ("the depth of #2", "private"),  # into an annotator
        ("make the fox in #2 purple", "private"),  # into an edit
        ("describe the second image", "private"),  # an ordinal
    ],
)
def test_shared_threads_still_hold_the_file_boundary(make_tool, cli_thread, private, rec, request_text, what):
    tool = make_tool(shared_threads=True)
    media = {m["id"]: m["path"] for m in cli_thread.media()}
    path = media[2] if what == "private" else media[3]
    rec.understood.clear(), rec.generated.clear(), rec.annotated.clear()
    msg = call(tool, {"request": request_text, "thread_id": "notes"})
    refused(msg, path)
    assert path not in seen_paths(rec)
    assert not rec.generated and not rec.annotated


def test_history_of_a_shared_thread_shows_only_allowed_files(make_tool, cli_thread, agent_media, private, rec):
    tool = make_tool(shared_threads=True)
    rec.understood.clear()
    msg = call(tool, {"request": "what did I show you before?", "thread_id": "notes"})
    assert msg.status != "error"
    history = rec.understood[-1]["history"]
    assert len(history) >= 3  # the person's earlier turns are there ...
    media = [p for m in history for p in m["media"]]
    fox = (agent_media / "fox.png").read_bytes()  # ... with the allowed file, as its checked copy
    assert [Path(p).name for p in media] == ["fox.png"] and Path(media[0]).read_bytes() == fox
    assert not any(p.startswith(str(private)) or p.startswith(str(cli_thread.settings.outputs_dir)) for p in media)


def test_references_in_the_tools_own_thread_follow_the_current_boundary(make_tool, private, agent_media, rec):
    wide = make_tool(agent_media, private)
    msg = call(wide, {"request": f"describe ###{private / 'secret.png'}###", "thread_id": "x"})
    assert msg.status != "error"
    wide.close()
    narrow = make_tool(agent_media)  # same home, same thread, fewer folders
    rec.understood.clear(), rec.generated.clear()
    for request in ("describe #1", "turn it into a video", "describe the image", "what is in it?"):
        refused(call(narrow, {"request": request, "thread_id": "x"}), private / "secret.png")
    msg = call(narrow, {"request": "what did I ask before?", "thread_id": "x"})
    assert msg.status != "error"
    assert not any(str(private) in p for p in seen_paths(rec)) and not rec.generated


def test_mentions_attachments_traversal_and_symlinks(make_tool, agent_media, private, tmp_path, rec):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "link.png").symlink_to(private / "secret.png")
    (allowed / "dirlink").symlink_to(private, target_is_directory=True)
    tool = make_tool(allowed, agent_media)
    for args in (
        {"request": "describe this", "files": [str(private / "secret.png")]},
        {"request": f"describe ###{private / 'secret.png'}###"},
        {"request": f"describe @{private / 'secret.png'}"},
        {"request": f"describe ###{allowed / '..' / 'private' / 'secret.png'}###"},
        {"request": "describe this", "files": [str(allowed / "link.png")]},
        {"request": f"describe ###{allowed / 'dirlink' / 'secret.mp4'}###"},
        {"request": "describe these", "files": [f"{agent_media}/fox.png### and ###{private / 'secret.png'}"]},
    ):
        msg = call(tool, args)
        assert msg.status == "error" and "not allowed" in msg.content and "allowed_dirs" in msg.content, args
    assert not rec.understood


def test_the_cli_outputs_folder_is_not_readable(make_tool, cli_thread):
    tool = make_tool()
    cli_output = cli_thread.media()[2]["path"]
    refused(call(tool, {"request": f"describe ###{cli_output}###"}), cli_output)


def test_the_tools_own_outputs_are_readable(make_tool, agent_home, rec):
    tool = make_tool()
    msg = call(tool, {"request": "make a picture of a red fox, then turn it into a 1 second video"})
    assert msg.status != "error", msg.content
    outputs = msg.artifact["outputs"]
    assert len(outputs) == 2 and all(Path(p).is_relative_to(agent_home / "tool" / "outputs") for p in outputs)
    assert rec.generated[-1]["plan"].inputs[0].path == outputs[0]
    msg = call(tool, {"request": "describe #1"}, id="c2")
    assert msg.status != "error" and msg.artifact["plan"]["inputs"][0]["path"] == outputs[0]
    other = call(tool, {"request": f"describe ###{outputs[1]}###", "thread_id": "elsewhere"}, id="c3")
    assert other.status != "error" and other.artifact["task"] == "video_understanding"


def test_guard_is_an_access_error_that_names_the_file(make_tool, private, agent_media):
    tool = make_tool()
    with pytest.raises(AccessError, match="allowed_dirs") as err:
        tool.guard(str(private / "secret.png"))
    assert str(private / "secret.png") in str(err.value) and str(agent_media) in str(err.value)
    tool.guard(str(agent_media / "fox.png"))  # inside: no error
    session = tool.session("planning")
    with pytest.raises(AccessError):
        session.plan(f"describe ###{private / 'secret.png'}###")


def test_a_plan_naming_a_file_the_words_did_not_is_refused(agent_home, agent_media, private, rec):
    from unison_agent.contract.plan import InputRef, Plan, Task

    def invent(request):  # a planner that slips in a file of its own
        return Plan(
            task=Task.image_understanding,
            prompt=request.text,
            planner="scripted",
            inputs=[InputRef(path=str(private / "secret.png"), kind="image", role="context")],
        )

    tool = UnisonTool(settings=tool_settings(agent_home, agent_media), tools=scripted_tools(rec, plan_fn=invent))
    try:
        refused(call(tool, {"request": "describe a fox"}), private / "secret.png")
    finally:
        tool.close()
    assert not rec.understood
