"""The agent graph: ``intake -> planner <-> {understand, annotate, confirm, generate} -> finish``.

``build_graph(settings, tools=None, checkpointer=None)`` compiles it; routing is done by the nodes themselves
with ``Command(goto=...)``. ``make_graph(config)`` is the module-level factory ``langgraph.json`` points at
(``langgraph dev`` supplies its own checkpointer).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import START, StateGraph
from unison_agent.graphs.nodes import Nodes
from unison_agent.graphs.state import AgentState, InputState
from unison_agent.graphs.toolbox import Toolbox

from unison_agent.settings import Settings

NODE_NAMES = ("intake", "planner", "understand", "annotate", "confirm", "generate", "finish")


def build_graph(settings: Settings, tools: Toolbox | None = None, checkpointer: Any = None):
    """Compile the agent graph for these settings (tools default to the real ones, loaded lazily)."""
    nodes = Nodes(settings=settings, tools=tools or Toolbox.default())
    graph = StateGraph(AgentState, input_schema=InputState)
    for name in NODE_NAMES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "intake")
    return graph.compile(checkpointer=checkpointer, name="unison-agent")


def make_graph(config: dict | None = None):
    """Factory for ``langgraph dev``: settings from the environment (UNISON_*), demo models if UNISON_DEMO=1."""
    settings = Settings.resolve()
    if settings.demo:
        from unison_agent.demo import demo_settings

        settings = demo_settings(settings)
    return build_graph(settings)
