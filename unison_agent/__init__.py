"""unison-agent: the two-stage Unison method (Qwen2.5-VL planner + Wan2.1-VACE) as a local assistant.

Public names load lazily, so ``import unison_agent`` costs nothing: ``Plan``, ``Task``, ``Settings``,
``Session``, ``UnisonTool``.
"""

from __future__ import annotations

from pathlib import Path as _Path

__version__ = "0.1.0"

# In a source checkout the folders tools/, graphs/ and prompts/ sit beside this package; installed, they live
# inside it (pyproject maps them). Let both layouts import them as unison_agent.tools, .graphs, .prompts.
_here = _Path(__file__).resolve().parent
if not (_here / "tools").is_dir() and (_here.parent / "tools" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # type: ignore[name-defined]  # noqa: F821

_LAZY = {
    "Plan": ("unison_agent.plan", "Plan"),
    "Task": ("unison_agent.plan", "Task"),
    "Settings": ("unison_agent.settings", "Settings"),
    "Session": ("unison_agent.session", "Session"),
    "UnisonTool": ("unison_agent.langchain_tool", "UnisonTool"),
    "UnisonError": ("unison_agent.errors", "UnisonError"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'unison_agent' has no attribute {name!r}")


__all__ = list(_LAZY)
