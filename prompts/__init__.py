"""Prompt templates, shipped as package data (text files rendered with Jinja, StrictUndefined)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any


@cache
def read_prompt(name: str) -> str:
    """The raw text of ``prompts/<name>``."""
    try:
        return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"prompt template {name!r} is not in the unison_agent.prompts package") from None


def render_prompt(name: str, **values: Any) -> str:
    """Render ``prompts/<name>`` with Jinja (a missing value is an error, never an empty string)."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(read_prompt(name)).render(**values)
