"""The agent served by the LangGraph server (``langgraph dev`` / ``langgraph up``): ``langgraph.json`` points at
:func:`make_graph`. A serving face like ``unison mcp`` and ``unison batch``: it resolves the settings from the
server's environment (``UNISON_*``) and applies demo mode (``UNISON_DEMO=1``: the tiny models, built once) here,
once; the graph itself (``graphs/graph.py``) takes the settings as given. The server supplies its own
checkpointer.
"""

from __future__ import annotations

import asyncio
import functools


def graph_from_env():
    """The graph for the settings in the environment, compiled once per process: the tools keep their loaded
    models from one run to the next."""
    return _graph_from_env()


@functools.cache
def _graph_from_env():
    from unison_agent.contract.settings import Settings
    from unison_agent.graphs.graph import build_graph

    settings = Settings.resolve()
    if settings.demo:
        from unison_agent.core.demo import demo_settings

        settings = demo_settings(settings)
    return build_graph(settings)


async def make_graph(config: dict | None = None):
    """Factory for ``langgraph.json``: :func:`graph_from_env`, built in a worker thread, since the server calls the
    factory on its event loop (settings resolution and the demo build touch the disk)."""
    return await asyncio.to_thread(graph_from_env)
