"""What the MCP tools return and accept, as schemas: the ``outputSchema`` of each tool's structured content, and
argument checking that answers bad arguments with a sentence per wrong argument (instead of a pydantic dump)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError


class FileOut(BaseModel):
    """A file a turn made."""

    id: int | None = Field(description="its media id in the thread: a later request can say '#3'")
    role: str = Field(description="'output', or the annotator map a step needed: 'mask' / 'control'")
    path: str = Field(description="absolute path on the server")
    uri: str = Field(description="resource URI to read it: unison://outputs/<thread>/<name>")
    mimeType: str


class StepErrorOut(BaseModel):
    step: int = Field(description="index of the step that failed (0-based)")
    error: str = Field(description="what was wrong and what to do")


class RunOutput(BaseModel):
    """Structured content of ``unison_run``."""

    task: str | None = Field(description="the last step's task (one of the twelve, or annotate:<kind>)")
    answer: str = Field(description="the answer text (also the first text content)")
    plan: dict[str, Any] | None = Field(description="the last step's plan (the plan contract), null for none")
    outputs: list[FileOut] = Field(description="the outputs, in order")
    files: list[FileOut] = Field(description="every file the turn made with its id, annotator maps included")
    thread: str
    errors: list[StepErrorOut]
    demo: bool = Field(description="true when the tiny demo models made it (noise)")


class PlanOutput(BaseModel):
    """Structured content of ``unison_plan``."""

    steps: list[dict[str, Any]] = Field(description="one per step: {step, request, plan, annotations, notes}")


class AnnotateOutput(BaseModel):
    """Structured content of ``unison_annotate``."""

    path: str
    uri: str
    mimeType: str
    notes: list[str]


def _expected(prop: dict[str, Any]) -> str:
    """A JSON schema property in words: 'a string', 'a list of strings or null'."""
    if "anyOf" in prop:
        return " or ".join(_expected(p) for p in prop["anyOf"])
    kind = prop.get("type")
    if kind == "array":
        inner = _expected(prop.get("items", {}))
        return "a list of " + (inner[2:] + "s" if inner.startswith("a ") else inner)
    return {
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "object": "an object",
        "null": "null",
    }.get(kind, "a value")


def argument_errors(tool: Any, arguments: dict[str, Any]) -> list[str]:
    """One sentence per wrong argument of a FastMCP ``tool`` (unknown, missing, or of the wrong type, with what is
    expected); empty when the arguments are fine."""
    props: dict[str, Any] = tool.parameters.get("properties", {})
    takes = ", ".join(f"{n}" + ("" if n in tool.parameters.get("required", []) else " (optional)") for n in props)
    problems = [f"unknown argument {name!r}; {tool.name} takes {takes}" for name in arguments if name not in props]
    try:
        tool.fn_metadata.arg_model.model_validate(tool.fn_metadata.pre_parse_json(dict(arguments)))
    except ValidationError as exc:
        seen = set()
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            if name in seen:
                continue
            seen.add(name)
            prop = props.get(name, {})
            what = f" ({prop['description']})" if prop.get("description") else ""
            if err["type"] == "missing":
                problems.append(f"missing argument {name!r}: {_expected(prop)}{what}")
            else:
                value = arguments.get(name)
                problems.append(f"argument {name!r} must be {_expected(prop)}{what}, got {value!r}")
    return problems
