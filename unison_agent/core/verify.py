"""Check generated work against the request: a few yes/no checks, answered by the understanding model.

- :func:`checks_for` breaks a generation plan into yes/no questions — objects, attributes, counts, text in the
  picture, motion for a video — with the qwen planner backend and a JSON schema when its weights are present,
  by rules otherwise.
- A :class:`Check`'s score is the probability the understanding model gives "yes" (``tools.understand.
  yes_probability``); an attempt's score is the mean over its checks.
- :func:`preserved_outside_mask` is an edit's pixel check: how much of the area outside the mask stayed put
  (no model).

The graph's ``verify`` node runs this after each generation and loops back to ``generate`` (a new seed; after the
second failure, a stronger guidance) until an attempt reaches the threshold or the attempts run out; the best one is
kept and the others are moved aside, not deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from unison_agent.contract.plan import EDIT_TASKS, Plan, Task
from unison_agent.contract.tokens import PAD_RE
from unison_agent.planners.targets import target_from_request

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

CheckKind = Literal["object", "attribute", "count", "text", "motion", "preserve"]
MAX_CHECKS = 4
PRESERVE_TOLERANCE = 12.0
"""Mean absolute change (0..255) outside an edit's mask that still counts as 'stayed put'."""

_COLOURS = ("white black red green blue yellow orange purple pink brown grey gray golden gold silver").split()
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_REMOVE_RE = re.compile(r"\b(?:remove|erase|delete|get\s+rid\s+of|take\s+out|hide)\b", re.I)
_QUOTED_RE = re.compile(r"[\"“']([^\"”']{1,40})[\"”']")
_SUBJECT_RE = re.compile(
    r"\b(?:of|showing|with|featuring)\s+(?P<s>(?:an?|the|some|\w+)\s[^.,;!?]{2,60}?)(?=$|[.,;!?]|\s+(?:in\s+\d|at\s+\d|"
    r"for\s+\d|\d+\s*(?:s|sec|seconds?)\b|that\s+is))",
    re.I,
)


@dataclass(frozen=True)
class Check:
    """One yes/no question about the output (or a pixel check for ``preserve``)."""

    question: str
    kind: CheckKind


@dataclass
class CheckResult:
    question: str
    kind: str
    p_yes: float

    @property
    def passed(self) -> bool:
        return self.p_yes >= 0.5


def attempt_summary(results: list[CheckResult]) -> str:
    passed = sum(r.passed for r in results)
    return f"{passed} of {len(results)} check{'s' if len(results) != 1 else ''} passed"


def score(results: list[CheckResult]) -> float:
    """The mean probability of "yes" (1.0 when there is nothing to check)."""
    return float(np.mean([r.p_yes for r in results])) if results else 1.0


# ----------------------------------------------------------------------------------------------------------
# checks


def checks_for(plan: Plan, settings: Settings | None = None) -> list[Check]:
    """The yes/no checks for a generation plan: from the qwen planner with a JSON schema when its weights are
    present (never in demo mode), else from rules. An edit also gets the pixel check of its unmasked area."""
    checks: list[Check] = []
    if settings is not None and not settings.demo:
        checks = _model_checks(plan, settings)
    if not checks:
        checks = rule_checks(plan)
    if plan.task in EDIT_TASKS:
        checks.append(Check("Did the area outside the edit stay as it was?", "preserve"))
    return checks


def rule_checks(plan: Plan) -> list[Check]:
    """Checks read from the prompt's words (the subject, colours of the target, counts, quoted text, motion)."""
    text = " ".join(PAD_RE.sub(" ", plan.prompt).split())
    what = "video" if plan.task.output == "video" else "image"
    checks: list[Check] = []
    target = plan.target or (target_from_request(text) if plan.task in EDIT_TASKS else None)
    if plan.task in EDIT_TASKS and target:
        if _REMOVE_RE.search(text):
            checks.append(Check(f"Is the {what} free of any {target}?", "object"))
        else:
            colour = next((c for c in _COLOURS if re.search(rf"\b{c}\b", text, re.I)), None)
            if colour:
                checks.append(Check(f"Is the {target} in the {what} {colour}?", "attribute"))
    m = _SUBJECT_RE.search(text)
    if m and plan.task not in EDIT_TASKS:
        checks.append(Check(f"Does the {what} show {m.group('s').strip()}?", "object"))
    for word, n in _NUMBERS.items():
        c = re.search(rf"\b(?:{word}|{n})\s+(?P<noun>(?:[a-z]+\s+)?[a-z]+s)\b", text, re.I)
        if c:
            checks.append(Check(f"Are there exactly {n} {c.group('noun')} in the {what}?", "count"))
            break
    q = _QUOTED_RE.search(text)
    if q and re.search(r"\b(?:text|words?|says?|reads?|sign|title|caption|letters?)\b", text, re.I):
        checks.append(Check(f'Does the {what} contain the text "{q.group(1)}"?', "text"))
    if plan.task.output == "video":
        checks.append(Check("Is there visible motion in the video?", "motion"))
    if not checks:
        checks.append(Check(f"Does the {what} match this description: {text}?", "object"))
    return checks[:MAX_CHECKS]


_CHECKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "checks": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CHECKS,
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string", "maxLength": 120},
                    "kind": {"enum": ["object", "attribute", "count", "text", "motion"]},
                },
                "required": ["question", "kind"],
            },
        }
    },
    "required": ["checks"],
}


def _model_checks(plan: Plan, settings: Settings) -> list[Check]:
    """Checks written by the base Qwen model under a JSON schema; [] when its weights are absent or it fails."""
    from unison_agent.models.qwen_loader import weights_status

    if not weights_status(settings).get("qwen"):
        return []
    from unison_agent.models.qwen_loader import load_planner
    from unison_agent.planners.qwen import constrained_json
    from unison_agent.prompts import read_prompt

    messages = [
        {"role": "system", "content": [{"type": "text", "text": read_prompt("verify_checks.txt").strip()}]},
        {"role": "user", "content": [{"type": "text", "text": PAD_RE.sub("the given file", plan.prompt)}]},
    ]
    try:
        raw = constrained_json(load_planner(settings, "base"), messages, _CHECKS_SCHEMA, 400, settings.max_input_tokens)
        items = json.loads(raw)["checks"]
        return [Check(str(i["question"]).strip(), i["kind"]) for i in items if str(i["question"]).strip()][:MAX_CHECKS]
    except (ValueError, KeyError, TypeError):
        return []


# ----------------------------------------------------------------------------------------------------------
# the pixel check of an edit


def preserved_outside_mask(source: np.ndarray, output: np.ndarray, mask: np.ndarray) -> float:
    """How much the unmasked area stayed put, in [0, 1]: 1 - mean |output - source| / (2 * tolerance), clipped.

    ``source``/``output``: (T, H, W, 3) or (H, W, 3) uint8 of the same size; ``mask``: (T, H, W) or (H, W) 0/255,
    white = edited. A mean change of ``PRESERVE_TOLERANCE`` (of 255) gives 0.5.
    """
    src = np.asarray(source, np.float32)
    out = np.asarray(output, np.float32)
    keep = np.asarray(mask) < 128
    if src.ndim == 3:
        src, out = src[None], out[None]
    if keep.ndim == 2:
        keep = np.broadcast_to(keep, src.shape[:3])
    n = min(len(src), len(out), len(keep))
    src, out, keep = src[:n], out[:n], keep[:n]
    if not keep.any():
        return 1.0
    change = float(np.abs(out - src).mean(axis=-1)[keep].mean())
    return float(np.clip(1.0 - change / (2 * PRESERVE_TOLERANCE), 0.0, 1.0))


def preserve_score(plan: Plan, output_path: str, mask_path: str | None) -> float:
    """The edit's pixel check on files: the plan's source and the output at the output's size (1.0 without a mask)."""
    from unison_agent.media.files import kind_of, read_image, read_mask, read_video
    from unison_agent.models.vace_inputs import cover_resize

    source = plan.first("source")
    if source is None or mask_path is None:
        return 1.0
    out = read_image(output_path)[None] if kind_of(output_path) == "image" else read_video(output_path)[0]
    src = read_image(source.path)[None] if source.kind == "image" else read_video(source.path)[0]
    mask = read_mask(mask_path)
    mask = mask[None] if mask.ndim == 2 else mask
    h, w = out.shape[1:3]
    src = cover_resize(src[np.linspace(0, len(src) - 1, len(out)).round().astype(int)], w, h)
    mask = cover_resize(mask[np.linspace(0, len(mask) - 1, len(out)).round().astype(int)], w, h, nearest=True)
    return preserved_outside_mask(src, out, mask)


def to_json(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


def retry_changes(attempt: int, plan: Plan, guidance: float) -> dict[str, Any]:
    """What the next attempt changes: always a new seed (the caller's), and from the third attempt on a stronger
    guidance (the plan is re-examined: the output ignored the prompt twice)."""
    if attempt >= 2 and plan.task is not Task.text_understanding:
        return {"guidance": round(min(guidance + 1.5, 9.0), 2)}
    return {}
