"""The agent graph::

    intake ──▶ prepare ──▶ annotate ──▶ confirm ──▶ generate ◀──▶ verify
       │          ▲  │        │ ▲         (review,      │            │   (another attempt, when checking)
       │          │  │        │ └ more maps  if asked)  │            │
       │          │  └────────┴───────────▶ understand  │            │
       │          └──────── next step ◀───────┴─────────┴────────────┘
       └──────────────────────────────────────────────────────────▶ finish   (no more steps, an error, cancel)

``prepare`` resolves and plans one step; typed routers (``graphs.nodes.route_*``) send it to ``annotate`` (an
annotator answer, or a control map / edit mask the step needs), ``confirm`` (plan review, when asked for),
``generate`` or ``understand``. With ``verify_attempts`` a generation goes to ``verify``, which scores it and sends
it back to ``generate`` for another attempt or keeps the best; a finished step goes back to ``prepare`` for the
next one, or to ``finish``.

``build_graph(settings, tools=None, checkpointer=None)`` compiles it for the settings it is given (a face has
applied demo mode already). The LangGraph server's factory lives with the serving faces:
``unison_agent/serve/langgraph_server.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from unison_agent.contract.settings import Settings
from unison_agent.core.prepare import Guard
from unison_agent.graphs import toolbox as toolbox_module
from unison_agent.graphs.nodes import (
    Nodes,
    route_after_annotate,
    route_after_confirm,
    route_after_generate,
    route_after_verify,
    route_start,
    route_step,
)
from unison_agent.graphs.state import AgentState, InputState
from unison_agent.graphs.toolbox import Toolbox

NODE_NAMES = ("intake", "prepare", "annotate", "confirm", "understand", "generate", "verify", "finish")


def build_graph(
    settings: Settings,
    tools: Toolbox | None = None,
    checkpointer: Any = None,
    guard: Guard | None = None,
    cancelled: Callable[[], bool] | None = None,
):
    """Compile the agent graph for these settings (tools default to the real ones, loaded lazily); ``guard``
    refuses files a step may not read (``unison_agent.core.prepare.resolve_step``); ``cancelled`` is polled during a
    turn and stops it when it returns True."""
    nodes = Nodes(settings=settings, tools=tools or toolbox_module.default_tools(), guard=guard, cancelled=cancelled)
    graph = StateGraph(AgentState, input_schema=InputState)
    for name in NODE_NAMES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "intake")
    graph.add_conditional_edges("intake", route_start)
    graph.add_conditional_edges("prepare", route_step)
    graph.add_conditional_edges("annotate", route_after_annotate)
    graph.add_conditional_edges("confirm", route_after_confirm)
    graph.add_conditional_edges("understand", route_start)
    graph.add_conditional_edges("generate", route_after_generate)
    graph.add_conditional_edges("verify", route_after_verify)
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name="unison-agent")
