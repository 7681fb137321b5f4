"""How results are put into words: the one presenter the graph's answers and every face (CLI, web, MCP, the
LangChain tool) share. The graph's nodes call it for the text a step's result carries; nothing here decides or
runs anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CANCELLED = "cancelled"
"""The answer of a step cancelled at its plan review."""
CANCELLED_NOTE = "cancelled before generation"


def size_text(output: str, width: int, height: int, num_frames: int) -> str:
    """``128x128`` for an image, ``128x128, 17 frames`` for a video."""
    return f"{width}x{height}" + (f", {num_frames} frames" if output == "video" else "")


def generation_answer(
    output: str,
    ids: Sequence[int],
    size: str,
    *,
    checked: str = "",
    warnings: Iterable[str] = (),
    maps: Iterable[Mapping[str, Any]] = (),
) -> str:
    """A generation's answer: ``video #4 (128x128, 17 frames); mask #3 made by the annotator``, what checking it
    found, and its warnings. ``maps`` are the annotator maps the step made (``{"id", "role"}``)."""
    shown = ", ".join(f"#{i}" for i in ids)
    made = "".join(f"; {m['role']} #{m['id']} made by the annotator" for m in maps)
    return (
        f"{output} {shown} ({size})"
        + made
        + (f" — {checked}" if checked else "")
        + "".join(f". Note: {w}" for w in warnings)
    )


def no_answer(demo: bool) -> str:
    """The answer when the understanding model produced no text."""
    if demo:
        return "the model gave no answer (the demo models are tiny and random: they produce no real text)"
    return "the model gave no answer; try asking again in other words"


def annotation_answer(kind: str, target: str | None, source_id: Any, made_id: Any) -> str:
    """An annotator answer: ``mask (bird) of #1 saved as #2``."""
    return f"{kind}{f' ({target})' if target else ''} of #{source_id} saved as #{made_id}"


def verification_text(summary: str, retried: int, score: float, threshold: float, best: int) -> str:
    """What checking a generation found: ``3 of 4 checks passed; retried once`` (and when none passed)."""
    text = summary + (f"; retried {'once' if retried == 1 else f'{retried} times'}" if retried else "")
    if score < threshold:
        text += f"; no attempt reached {threshold:.2f}, kept the best (attempt {best + 1})"
    return text


def attempt_notes(record: Iterable[Mapping[str, Any]]) -> list[str]:
    """One note per checked attempt: ``attempt 2: score 0.75``."""
    return [f"attempt {r['attempt']}: score {r['score']:.2f}" for r in record]


def message_text(answer: str, outputs: Sequence[str]) -> str:
    """The assistant message a step leaves in the conversation: its answer, then its output files."""
    text = answer or ""
    if outputs:
        text = (text + "\n" if text else "") + "\n".join(outputs)
    return text


def error_text(error: Mapping[str, Any]) -> str:
    """A failed step in one line: ``error: <message>``."""
    return f"error: {error['error']}"


def step_notes(result: Any, demo: bool) -> list[str]:
    """The notes shown with a step: its own, and in demo mode, for a generation, that its models are random."""
    from unison_agent.core.demo import DEMO_NOTE

    notes = list(result.notes)
    if demo and result.plan is not None and result.plan.task.is_generation and DEMO_NOTE not in notes:
        notes.append(DEMO_NOTE)
    return notes


def turn_answer(results: Iterable[Any], errors: Iterable[Mapping[str, Any]]) -> str:
    """The answers of a turn's steps, one per line, then its errors."""
    parts = [r.answer for r in results if r.answer]
    parts += [error_text(e) for e in errors]
    return "\n".join(parts)
