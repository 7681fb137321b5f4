"""The LangChain tool: argument schema, content + artifact, file access limits, use by a LangGraph agent."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage

from tests.fixtures.agent import scripted_tools
from unison_agent import UnisonTool
from unison_agent.contract.settings import Settings


class ToolCallingFake(GenericFakeChatModel):
    """A scripted chat model that 'calls' tools: bind_tools is accepted and ignored."""

    def bind_tools(self, tools, **kwargs):
        return self


@pytest.fixture
def tool(agent_home, agent_media, rec):
    s = Settings.resolve(
        {"home": str(agent_home), "planner": "rules", "steps": 2, "allowed_dirs": [str(agent_media)]}, env={}
    )
    t = UnisonTool(settings=s, tools=scripted_tools(rec))
    yield t
    t.close()


def call(tool, args, id="c1"):
    return tool.invoke({"type": "tool_call", "id": id, "name": "unison", "args": args})


def test_schema():
    schema = UnisonTool().tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"request", "files", "thread_id"}
    assert schema["required"] == ["request"]
    assert UnisonTool().response_format == "content_and_artifact"


def test_content_and_artifact(tool, agent_media):
    msg = call(tool, {"request": "make a picture of a red fox"})
    assert isinstance(msg, ToolMessage)
    assert msg.artifact["task"] == "text_to_image" and len(msg.artifact["outputs"]) == 1
    assert Path(msg.artifact["outputs"][0]).is_file() and msg.artifact["outputs"][0] in msg.content
    msg = call(tool, {"request": "turn it into a video"}, id="c2")  # same default thread: "it" is the fox
    assert msg.artifact["task"] == "image_to_video"
    msg = call(tool, {"request": "describe this", "files": [str(agent_media / "fox.png")], "thread_id": "other"})
    assert msg.artifact["task"] == "image_understanding" and msg.artifact["thread"] == "other"
    assert msg.content.startswith("answer about 1 file(s)")


def test_file_access_is_limited(tool, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"")
    msg = call(tool, {"request": "describe this", "files": [str(outside)]})
    assert msg.status == "error" and "not allowed" in msg.content and "UNISON_ALLOWED_DIRS" in msg.content
    msg = call(tool, {"request": f"describe ###{outside}###"})
    assert msg.status == "error" and "not allowed" in msg.content


def test_used_by_a_langgraph_agent(tool):
    from langgraph.prebuilt import create_react_agent

    model = ToolCallingFake(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[
                        {
                            "name": "unison",
                            "args": {"request": "make a picture of a red fox"},
                            "id": "call_1",
                            "type": "tool_call",
                        }
                    ],
                ),
                AIMessage(
                    content="",
                    tool_calls=[
                        {"name": "unison", "args": {"request": "what is in it?"}, "id": "call_2", "type": "tool_call"}
                    ],
                ),
                AIMessage(content="Here is your fox."),
            ]
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = create_react_agent(model, [tool])
    out = agent.invoke({"messages": [("user", "draw me a fox and describe it")]})
    tool_msgs = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.artifact["task"] for m in tool_msgs] == ["text_to_image", "image_understanding"]
    assert Path(tool_msgs[0].artifact["outputs"][0]).is_file()
    assert tool_msgs[1].artifact["plan"]["inputs"][0]["path"] == tool_msgs[0].artifact["outputs"][0]
    assert out["messages"][-1].content == "Here is your fox."
