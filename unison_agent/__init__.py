"""unison-agent: the two-stage Unison method (Qwen2.5-VL planner + Wan2.1-VACE) as a local assistant.

Public names load lazily, so ``import unison_agent`` costs nothing: ``Plan``, ``Task``, ``Settings``,
``Session``, ``UnisonTool``.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Plan": ("unison_agent.contract.plan", "Plan"),
    "Task": ("unison_agent.contract.plan", "Task"),
    "Settings": ("unison_agent.contract.settings", "Settings"),
    "Session": ("unison_agent.core.session", "Session"),
    "UnisonTool": ("unison_agent.serve.langchain_tool", "UnisonTool"),
    "UnisonError": ("unison_agent.contract.errors", "UnisonError"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'unison_agent' has no attribute {name!r}")


__all__ = list(_LAZY)
