"""`unison mcp --demo` driven by the MCP SDK's own stdio client: tools listed, each called, resources read, bad
calls answered with MCP error results while the server keeps serving. One server for the module."""

from __future__ import annotations

import asyncio
import base64
import io
import shutil
import time

import pytest
from PIL import Image

from tests.unison_agent.serve.conftest import UNISON

pytest.importorskip("mcp")


def drive(script, server_env, allowed):
    """Start `unison mcp --demo --allow ALLOWED` over stdio and run ``await script(session)`` against it."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=UNISON[0], args=[*UNISON[1:], "mcp", "--demo", "--allow", str(allowed)], env=server_env
    )

    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await script(session)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def allowed(tmp_path_factory, media_dir):
    d = tmp_path_factory.mktemp("allowed")
    for name in ("photo.png", "clip.mp4"):
        shutil.copy(media_dir / name, d / name)
    return d


def test_mcp_server_over_stdio(server_env, demo_models, allowed, media_dir):
    from mcp.types import ImageContent, ResourceLink, TextContent

    async def script(s):
        seen = {}
        seen["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
        seen["plan"] = await s.call_tool(
            "unison_plan", {"request": "animate it for 1 second", "files": [str(allowed / "photo.png")]}
        )
        seen["run"] = await s.call_tool("unison_run", {"request": "make a picture of a red fox", "thread_id": "t1"})
        seen["annotate"] = await s.call_tool("unison_annotate", {"kind": "gray", "file": str(allowed / "clip.mp4")})
        seen["resources"] = [str(r.uri) for r in (await s.list_resources()).resources]
        link = next(c for c in seen["annotate"].content if isinstance(c, ResourceLink))
        seen["video"] = await s.read_resource(link.uri)
        seen["image"] = await s.read_resource(seen["run"].structuredContent["outputs"][0]["uri"])
        # bad calls: a file outside the allowed folder, a missing file, an unknown annotator, a wrong argument
        seen["outside"] = await s.call_tool(
            "unison_run", {"request": "describe it", "files": [str(media_dir / "photo.png")]}
        )
        seen["missing"] = await s.call_tool("unison_run", {"request": f"describe ###{allowed / 'nope.png'}###"})
        seen["unknown"] = await s.call_tool("unison_annotate", {"kind": "xray", "file": str(allowed / "photo.png")})
        seen["badargs"] = await s.call_tool("unison_plan", {"files": "not a list"})
        # ... and the server still answers, on the same thread as before
        seen["after"] = await s.call_tool("unison_run", {"request": "describe #1", "thread_id": "t1"})
        return seen

    seen = drive(script, server_env, allowed)
    assert seen["tools"] == ["unison_annotate", "unison_plan", "unison_run"]

    plan = seen["plan"]
    assert not plan.isError
    step = plan.structuredContent["steps"][0]["plan"]
    assert step["task"] == "image_to_video" and step["inputs"][0]["path"].endswith("photo.png")

    run = seen["run"]
    assert not run.isError and run.structuredContent["task"] == "text_to_image"
    assert run.structuredContent["plan"]["width"] == 64 and run.structuredContent["demo"] is True
    (img,) = [c for c in run.content if isinstance(c, ImageContent)]
    assert img.mimeType == "image/png" and Image.open(io.BytesIO(base64.b64decode(img.data))).size == (64, 64)
    out = run.structuredContent["outputs"][0]
    assert out["uri"].startswith("unison://outputs/t1/") and out["uri"] in seen["resources"] and out["id"] == 1
    (blob,) = seen["image"].contents
    assert blob.mimeType == "image/png" and base64.b64decode(blob.blob) == open(out["path"], "rb").read()

    ann = seen["annotate"]
    assert not ann.isError and ann.structuredContent["mimeType"] == "video/mp4"
    (video,) = seen["video"].contents
    assert video.mimeType == "video/mp4" and base64.b64decode(video.blob)[4:8] == b"ftyp"

    for name, words in [
        ("outside", "not allowed"),
        ("missing", "nope.png: no such file"),
        ("unknown", "xray"),
        ("badargs", "missing argument 'request'"),
    ]:
        r = seen[name]
        text = " ".join(c.text for c in r.content if isinstance(c, TextContent))
        assert r.isError and words in text, (name, text)
        assert "Error executing tool" not in text and not text.lower().startswith("error:"), (name, text)

    after = seen["after"]
    assert not after.isError and after.structuredContent["task"] == "image_understanding"


def test_mcp_server_over_streamable_http(server_env, demo_models, allowed, media_dir):
    """`unison mcp --http PORT` on 127.0.0.1: the same tools through the SDK's streamable HTTP client."""
    import subprocess

    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    from tests.unison_agent.serve.test_langgraph_server import free_port

    port = free_port()
    cmd = [*UNISON, "mcp", "--demo", "--allow", str(allowed), "--http", str(port)]
    proc = subprocess.Popen(cmd, env=server_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/mcp"

    async def main():
        async with streamablehttp_client(url) as (read, write, _), ClientSession(read, write) as s:
            await s.initialize()
            tools = sorted(t.name for t in (await s.list_tools()).tools)
            plan = await s.call_tool("unison_plan", {"request": f"make the sky red in ###{allowed / 'clip.mp4'}###"})
            refused = await s.call_tool("unison_plan", {"request": f"animate ###{media_dir / 'photo.png'}###"})
            return tools, plan, refused

    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "unison mcp --http did not start"
                time.sleep(0.3)
        tools, plan, refused = asyncio.run(main())
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert tools == ["unison_annotate", "unison_plan", "unison_run"]
    assert not plan.isError and plan.structuredContent["steps"][0]["plan"]["task"] == "video_edit"
    assert refused.isError and "not allowed" in refused.content[0].text
