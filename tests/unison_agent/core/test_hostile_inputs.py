"""Hostile input at every face (scripted tools, no models): names that would escape their folder land inside it or
are refused before anything is made; bad values give one clean error; a bad line fails alone; bounded work;
-o never overwrites what the person gave."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.agent import Recorder, scripted_tools
from unison_agent import UnisonTool
from unison_agent.cli import main
from unison_agent.contract.settings import Settings
from unison_agent.media.files import read_image, write_image
from unison_agent.serve.batch import Worker, _collect, read_items

ESCAPES = ["..", ".", "../../x", "/tmp/abs-thread", "a/b/../../..", "x" * 300, "CON", "ünï cødé", " spaced "]


def only_inside(root: Path, paths) -> None:
    root = root.resolve()
    for p in paths:
        assert Path(p).resolve().is_relative_to(root), (p, root)


@pytest.fixture
def cli_env(monkeypatch, agent_home, rec):
    from unison_agent.graphs import toolbox

    monkeypatch.setenv("UNISON_HOME", str(agent_home))
    monkeypatch.setenv("UNISON_PLANNER", "rules")
    monkeypatch.setattr(toolbox, "default_tools", lambda: scripted_tools(rec))
    return agent_home


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


# ----------------------------------------------------------------------------------------------------------
# the CLI


@pytest.mark.parametrize("thread", ESCAPES)
def test_cli_thread_names_never_leave_the_outputs_folder(cli_env, capsys, rec, thread):
    rc = main(["run", "--json", "--thread", thread, "--width", "64", "--height", "64", "make a picture of a fox"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["thread"] == thread and len(out["outputs"]) == 1
    only_inside(cli_env / "outputs", out["outputs"])
    assert Path(out["outputs"][0]).parent.parent == (cli_env / "outputs").resolve()  # one folder per thread
    assert len(Path(out["outputs"][0]).parent.name) <= 64


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--thread", "a\x00b", "make a picture"], "thread 'a\\x00b' contains a NUL byte"),
        (["--seed", str(2**80), "make a picture"], "seed"),
        (["--guidance", "nan", "make a picture"], "guidance: Input should be a finite number"),
        (["--steps", "0", "make a picture"], "steps"),
        (["make a picture of ###a\x00b.png###"], "NUL byte"),
    ],
)
def test_cli_bad_values_are_one_clean_line_and_nothing_is_made(cli_env, capsys, rec, argv, expected):
    rc = main(["run", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and "Traceback" not in err and len(err.strip().splitlines()) <= 3
    assert not rec.generated and not rec.plans and not files_under(cli_env / "outputs")


def test_a_one_megabyte_prompt_is_refused_at_once(cli_env, capsys, rec):
    import time

    started = time.perf_counter()
    rc = main(["run", "make a picture of " + "a very red fox " * 70_000])
    err = capsys.readouterr().err
    assert rc == 2 and "over the limit of 20,000" in err and "max_request_chars" in err
    assert time.perf_counter() - started < 5 and not rec.plans


def test_a_home_that_is_a_file_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("UNISON_PLANNER", "rules")
    for home_arg in (str(home), str(home / "inside")):
        rc = main(["run", "--home", home_arg, "what is a fox?"])
        err = capsys.readouterr().err
        assert rc == 2 and str(home) in err and "UNISON_HOME" in err and "Traceback" not in err


def test_chain_defaults_and_values_are_checked_where_they_enter(cli_env, capsys, rec, tmp_path):
    cases = {
        "thread: x\ndefaults: [1, 2]\nturns: [a picture of a fox]\n": "'defaults' must be a mapping",
        "defaults: {guidance: .nan}\nturns: [a picture of a fox]\n": "guidance: Input should be a finite number",
        "turns: [{request: a picture of a fox, seed: 1208925819614629174706176}]\n": "seed",
    }
    for text, expected in cases.items():
        chain = tmp_path / "c.yaml"
        chain.write_text(text)
        rc = main(["chain", str(chain)])
        err = capsys.readouterr().err
        assert rc == 2 and expected in err and "Traceback" not in err, err
    assert not rec.plans


def test_nothing_invalid_reaches_a_sidecar(make_session, rec):
    s = make_session("nan")
    from unison_agent.contract.errors import UnisonError

    for bad in ({"guidance": math.nan}, {"guidance": math.inf}, {"seed": 2**80}, {"seed": -1}, {"shift": "x"}):
        with pytest.raises(UnisonError):
            s.send("make a picture of a fox", overrides=bad)
    assert not rec.generated and s.history() == []


# ----------------------------------------------------------------------------------------------------------
# annotate -o: never overwrite what the person gave


def test_annotate_never_overwrites_its_input_or_an_existing_file(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    write_image(photo, np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    before = photo.read_bytes()
    for out in (photo, tmp_path / "photo"):  # the same file, with or without its extension
        assert main(["annotate", "canny", str(photo), "-o", str(out)]) == 2
        assert "would overwrite the input" in capsys.readouterr().err
    (tmp_path / "sub").mkdir()
    assert main(["annotate", "canny", str(photo), "-o", str(tmp_path / "sub" / ".." / "photo.png"), "--force"]) == 2
    assert photo.read_bytes() == before and not (tmp_path / "photo.json").exists()
    edges = tmp_path / "edges.png"
    assert main(["annotate", "canny", str(photo), "-o", str(edges)]) == 0
    made = edges.read_bytes()
    assert main(["annotate", "canny", str(photo), "-o", str(edges)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and edges.read_bytes() == made
    assert main(["annotate", "canny", str(photo), "-o", str(edges), "--force"]) == 0


def test_batch_output_folder_is_never_its_input(tmp_path, capsys):
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text('{"request": "a fox"}\n')
    assert main(["batch", str(jsonl), "-o", str(tmp_path)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert main(["batch", str(jsonl), "-o", str(jsonl)]) == 2
    assert "is a file" in capsys.readouterr().err and jsonl.read_text() == '{"request": "a fox"}\n'


# ----------------------------------------------------------------------------------------------------------
# the LangChain tool and MCP


def tool_for(tmp_path, rec, **flags) -> UnisonTool:
    s = Settings.resolve(
        {"home": str(tmp_path / "home"), "planner": "rules", "default_width": 64, "default_height": 64, **flags}, env={}
    )
    return UnisonTool(settings=s, tools=scripted_tools(rec))


def call(tool, args):
    return tool.invoke({"type": "tool_call", "id": "1", "name": "unison", "args": args})


def test_tool_thread_ids_land_in_its_outputs_or_are_refused_before_work(tmp_path, rec):
    tool = tool_for(tmp_path, rec)
    outputs = tool.resolved_settings().outputs_dir
    try:
        for thread in ESCAPES:
            msg = call(tool, {"request": "make a picture of a fox", "thread_id": thread})
            assert msg.status != "error", msg.content
            only_inside(outputs, msg.artifact["outputs"])
        made = len(rec.generated)
        for bad, expected in (("a\x00b", "NUL byte"), ("", None)):
            msg = call(tool, {"request": "make a picture of a fox", "thread_id": bad})
            if expected:
                assert msg.status == "error" and expected in msg.content
        assert len(rec.generated) == made + 1  # the NUL id made nothing; the empty one is the default thread
        msg = call(tool, {"request": "x" * 1_000_000})
        assert msg.status == "error" and "max_request_chars" in msg.content
        msg = call(tool, {"request": "make a picture of a fox", "thread_id": "still-works"})
        assert msg.status != "error"
    finally:
        tool.close()
    home = outputs.parent.parent
    for f in files_under(home):  # the tool's own folder, and one lock file per thread: nothing else
        assert f.is_relative_to(home / "tool") or f.parent == home / "locks", f


def test_mcp_thread_id_dot_dot_and_nul_through_an_mcp_client(tmp_path, rec):
    from mcp.shared.memory import create_connected_server_and_client_session

    from unison_agent.serve.mcp import build_server

    tool = tool_for(tmp_path, rec)
    server = build_server(tool)
    outputs = tool.resolved_settings().outputs_dir

    async def script():
        async with create_connected_server_and_client_session(server._mcp_server) as client:
            dots = await client.call_tool("unison_run", {"request": "make a picture of a fox", "thread_id": ".."})
            nul = await client.call_tool("unison_run", {"request": "make a picture of a fox", "thread_id": "a\x00b"})
            newline = await client.call_tool("unison_run", {"request": "describe this", "files": ["a\nb.png"]})
            after = await client.call_tool("unison_run", {"request": "what is a fox?", "thread_id": ".."})
            return dots, nul, newline, after

    try:
        dots, nul, newline, after = asyncio.run(script())
    finally:
        tool.close()
    assert not dots.isError
    only_inside(outputs, [o["path"] for o in dots.structuredContent["outputs"]])
    assert nul.isError and "NUL byte" in nul.content[0].text and len(rec.generated) == 1
    assert newline.isError and "control characters" in newline.content[0].text
    assert not after.isError  # the server goes on serving
    assert not [p for p in files_under(outputs.parent) if not p.resolve().is_relative_to(outputs.parent.resolve())]
    assert {p.name for p in outputs.parent.iterdir()} <= {
        "outputs",
        "threads.sqlite",
        "threads.sqlite-wal",
        "threads.sqlite-shm",
        "inputs",
    }


# ----------------------------------------------------------------------------------------------------------
# batch: ids become sidecars inside OUT; a bad line fails alone


def test_batch_ids_stay_inside_and_a_bad_line_fails_alone(tmp_path):
    out = tmp_path / "out"
    lines = [
        {"id": "../../x", "request": "make a picture of a fox"},
        {"id": str(tmp_path / "abs"), "request": "make a picture of a fox"},
        {"id": "nul\x00id", "request": "make a picture of a fox"},
        {"id": "y" * 300, "request": "make a picture of a fox"},
        {"id": "seed", "request": "make a picture of a fox", "seed": 2**80},
        {"id": "nan", "request": "make a picture of a fox", "overrides": {"guidance": "nan"}},
        {"id": "files", "request": "describe it", "files": ["bad\x00name.png"]},
        {"id": "ok", "request": "make a picture of a fox"},
    ]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines))
    items = read_items(jsonl)
    bad = {i.line: i.error for i in items if i.error}
    assert sorted(bad) == [3, 5, 6, 7]
    assert "NUL byte" in bad[3] and "seed" in bad[5] and "finite" in bad[6] and "control characters" in bad[7]
    rec = Recorder()
    settings = Settings.resolve(
        {"home": str(tmp_path / "home"), "planner": "rules", "default_width": 64, "default_height": 64}, env={}
    )
    worker = Worker(settings, str(out), 0, tools=scripted_tools(rec))
    try:
        records = [worker.run(i) for i in items if i.error is None]
    finally:
        worker.session.close()
    assert all(r["ok"] for r in records) and len(records) == 4
    summary = _collect(items, out, skipped=0, seconds=1.0)
    assert summary.total == 8 and summary.done == 4
    only_inside(out, files_under(tmp_path) - {jsonl} - files_under(tmp_path / "home"))
    assert not (tmp_path / "x.json").exists() and not Path(str(tmp_path / "abs") + ".json").exists()
    only_inside(out / "outputs", [p for r in records for p in r["outputs"]])


# ----------------------------------------------------------------------------------------------------------
# the web UI's threads


def test_web_thread_names_keep_uploads_and_outputs_inside(tmp_path, agent_media):
    from unison_agent.web import WebChat

    rec = Recorder()
    settings = Settings.resolve(
        {"home": str(tmp_path / "home"), "planner": "rules", "default_width": 64, "default_height": 64}, env={}
    )
    web = WebChat(settings, tools=scripted_tools(rec))
    try:
        for thread in ("..", "../../etc", "x" * 300):
            updates = list(
                web.turn(
                    thread, "animate this for 1 second", [str(agent_media / "fox.png")], overrides={"num_frames": 5}
                )
            )
            result = updates[-1].result
            assert result.ok, result.errors
            only_inside(tmp_path / "home" / "outputs", result.outputs)
            only_inside(tmp_path / "home" / "uploads", [rec.generated[-1]["plan"].inputs[0].path])
        bad = list(web.turn("a\x00b", "make a picture", []))[-1].result
        assert not bad.ok and "NUL byte" in bad.errors[0]["error"]
    finally:
        web.close()
    assert not (tmp_path / "fox.png").exists() and not (tmp_path / "home" / "fox.png").exists()


def test_the_checked_copy_is_what_the_model_reads(tmp_path, rec):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    write_image(allowed / "fox.png", np.full((16, 16, 3), 77, np.uint8))
    tool = tool_for(tmp_path, rec, allowed_dirs=[str(allowed)])
    try:
        msg = call(tool, {"request": "describe this", "files": [str(allowed / "fox.png")]})
        write_image(allowed / "fox.png", np.full((16, 16, 3), 200, np.uint8))  # changed after the call
        used = rec.understood[-1]["plan"].inputs[0].path
        assert msg.status != "error" and int(read_image(used)[0, 0, 0]) == 77
    finally:
        tool.close()


def test_an_unusable_home_is_a_clean_error_for_the_tool_and_the_graph(tmp_path, rec):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    tool = UnisonTool(
        settings=Settings.resolve({"home": str(home), "planner": "rules"}, env={}), tools=scripted_tools(rec)
    )
    try:
        msg = call(tool, {"request": "what is a fox?"})
    finally:
        tool.close()
    assert msg.status == "error" and str(home) in msg.content and "UNISON_HOME" in msg.content
    from unison_agent.core.session import Session

    blocked = tmp_path / "outputs-file"
    blocked.write_text("a file where the outputs folder should be")
    s = Settings.resolve(
        {
            "home": str(tmp_path / "h2"),
            "planner": "rules",
            "outputs_dir": str(blocked),
            "default_width": 64,
            "default_height": 64,
        },
        env={},
    )
    with Session(s, thread="t", tools=scripted_tools(rec)) as session:
        result = session.send("make a picture of a fox")
        assert not result.ok and str(blocked) in result.errors[0]["error"] and not result.errors[0]["internal"]
        assert session.send("what is a fox?").ok  # the thread goes on
