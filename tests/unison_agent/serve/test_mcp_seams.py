"""`unison mcp --demo` through the MCP SDK's stdio client, as a client uses it: progress notifications when a
progress token is sent, every file a turn made (the annotator's mask too) with its id, "#id" usable in the next
call, an outputSchema per tool that the structured content satisfies, error texts that say what was wrong once
(naming the wrong argument and what is expected), and resources scoped to the threads a client used."""

from __future__ import annotations

import jsonschema
import pytest

from tests.unison_agent.serve.test_mcp import allowed, drive  # noqa: F401  (the module's server fixtures)

pytest.importorskip("mcp")


def _text(result) -> str:
    return " ".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def test_mcp_progress_ids_schema_errors_and_scoped_resources(server_env, demo_models, allowed):  # noqa: F811
    from mcp.types import ImageContent

    async def first_client(s):
        seen = {"tools": {t.name: t for t in (await s.list_tools()).tools}, "progress": []}

        async def on_progress(progress, total, message):
            seen["progress"].append((progress, total, message))

        seen["edit"] = await s.call_tool(
            "unison_run",
            {"request": "make the square white", "thread_id": "edits", "files": [str(allowed / "photo.png")]},
            progress_callback=on_progress,
        )
        seen["quiet"] = await s.call_tool("unison_run", {"request": "what is a fox?", "thread_id": "edits"})
        mask_id = next(f["id"] for f in seen["edit"].structuredContent["files"] if f["role"] == "mask")
        seen["plan_mask"] = await s.call_tool(
            "unison_plan", {"request": f"animate #{mask_id} for 1 second", "thread_id": "edits"}
        )
        seen["wrong_type"] = await s.call_tool("unison_run", {"request": "a fox", "files": "photo.png"})
        seen["unknown_arg"] = await s.call_tool("unison_plan", {"request": "a fox", "size": 5})
        seen["resources"] = [str(r.uri) for r in (await s.list_resources()).resources]
        seen["templates"] = [t.uriTemplate for t in (await s.list_resource_templates()).resourceTemplates]
        seen["long_progress"] = []

        async def on_long_progress(progress, total, message):
            seen["long_progress"].append(message)

        seen["long"] = await s.call_tool(  # 17 frames in windows of 9 (5 kept): three windows
            "unison_run",
            {"request": "make a 1-second video of a fox", "thread_id": "long"},
            progress_callback=on_long_progress,
        )
        return seen

    seen = drive(first_client, {**server_env, "UNISON_WINDOW_FRAMES": "9", "UNISON_WINDOW_OVERLAP": "5"}, allowed)
    tools = seen["tools"]
    for name in ("unison_run", "unison_plan", "unison_annotate"):
        assert tools[name].outputSchema and tools[name].outputSchema["type"] == "object", name
    jsonschema.validate(seen["edit"].structuredContent, tools["unison_run"].outputSchema)

    # every file the edit made has an id, in order, the mask before the output, both shown to the client
    edit = seen["edit"]
    assert not edit.isError, _text(edit)
    files = edit.structuredContent["files"]
    assert [f["role"] for f in files] == ["mask", "output"] and [f["id"] for f in files] == [2, 3]
    assert f"#2 mask: {files[0]['uri']}" in _text(edit) and "mask #2" in _text(edit)
    assert len([c for c in edit.content if isinstance(c, ImageContent)]) == 2
    # ... and "#2" reaches the mask in the next call on the thread
    (step,) = seen["plan_mask"].structuredContent["steps"]
    assert step["plan"]["inputs"][0]["path"] == files[0]["path"]

    # progress: the stages by label, the denoising steps counted (demo: 2 steps), only when a token was sent
    labels = [m for _, total, m in seen["progress"] if total is None]
    steps = [(p, t, m) for p, t, m in seen["progress"] if t is not None]
    assert any("annotat" in m for m in labels) and steps, seen["progress"]
    assert steps[-1][0] == steps[-1][1] and steps[-1][2].startswith("denoising 2/2"), seen["progress"]
    values = [p for p, _, _ in seen["progress"]]
    assert values == sorted(set(values)), "MCP progress must rise with every notification"
    assert not seen["quiet"].isError
    # a long video: every notification names its window ("window 2/3 · denoising 2/2")
    assert not seen["long"].isError, _text(seen["long"])
    assert {"window 1/3 · denoising 2/2", "window 2/3 · denoising 2/2", "window 3/3 · denoising 2/2"} <= {
        m.split(" (")[0] for m in seen["long_progress"]
    }, seen["long_progress"]

    # bad arguments: which one, what is expected, what came; no pydantic dump
    wrong = _text(seen["wrong_type"])
    assert seen["wrong_type"].isError and "argument 'files' must be a list of strings" in wrong and "photo.png" in wrong
    assert "validation error" not in wrong and "pydantic" not in wrong
    unknown = _text(seen["unknown_arg"])
    assert seen["unknown_arg"].isError and "unknown argument 'size'" in unknown and "request" in unknown

    # resources: this client's thread, newest first; the template for reading any of them
    assert seen["resources"][:2] == [files[1]["uri"], files[0]["uri"]]
    assert seen["templates"] == ["unison://outputs/{thread}/{name}"]

    async def second_client(s):
        listed_before = [str(r.uri) for r in (await s.list_resources()).resources]
        await s.call_tool("unison_run", {"request": "make a picture of a red fox", "thread_id": "other"})
        listed = [str(r.uri) for r in (await s.list_resources()).resources]
        read = await s.read_resource(files[0]["uri"])  # another thread's file: not listed, still readable by URI
        return listed_before, listed, read

    listed_before, listed, read = drive(second_client, server_env, allowed)
    assert listed_before == [] and len(listed) == 1 and listed[0].startswith("unison://outputs/other/")
    assert read.contents[0].mimeType == "image/png"
