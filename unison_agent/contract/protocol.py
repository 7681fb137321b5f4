"""The Unison token protocol: ``decode(planner_text, prompt) -> Plan`` and ``encode(plan) -> str``.

The planning LoRA answers either in plain text (an understanding request) or with a token plan:

``<CFI>`` / ``<CFV>`` create an image / a video; ``<BORES>w,h<EORES>`` the size; ``<BONF>n<EONF>`` a video of
n + 1 frames; ``<BOFIDX>i<EOFIDX>`` image-to-video with the given image as frame i (0 = first, anything else =
last); ``<REF>`` reference generation; ``<CTRL>`` the given file is a control signal; ``<BOEDIT>m,s<EOEDIT>``
editing with mention m as the mask and mention s as the source (the indices count the mentioned files only, as the
reference's ``###`` list does: a typed ``<IMGPAD>``/``<VIDPAD>`` with no file behind it takes no index).

Unlike the reference script, the frame index is compared correctly (both anchors are reachable), image
control is wired, and malformed output raises :class:`ProtocolError` (carrying the raw text) instead of
crashing or silently producing defaults.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from unison_agent.contract.errors import PlanError, ProtocolError
from unison_agent.contract.mentions import find_mentions, planning_prompt
from unison_agent.contract.plan import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_VIDEO_FRAMES,
    DEFAULT_WIDTH,
    MAX_FRAMES,
    MAX_SIDE,
    MIN_SIDE,
    UNDERSTANDING_TASKS,
    InputRef,
    Plan,
    Task,
    snap16,
    snap_frames,
)
from unison_agent.contract.tokens import (
    BOEDIT,
    BOFIDX,
    BONF,
    BORES,
    CFI,
    CFV,
    CONTROL_TOKENS,
    CTRL,
    END_MARKERS,
    EOEDIT,
    EOFIDX,
    EONF,
    EORES,
    IMGPAD,
    REF,
    TOKEN_RE,
    UNISON_TOKENS,
    VIDPAD,
    neutralize,
)

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.mentions import Mention

__all__ = ["UNISON_TOKENS", "IMGPAD", "VIDPAD", "neutralize", "decode", "encode", "clean_output", "is_token_plan"]

_PAIRS = {BORES: EORES, BONF: EONF, BOFIDX: EOFIDX, BOEDIT: EOEDIT}


def clean_output(text: str) -> str:
    """Planner output without end markers and surrounding whitespace."""
    for marker in END_MARKERS:
        text = text.replace(marker, "")
    return text.strip()


def is_token_plan(text: str) -> bool:
    """True when planner output contains any generation control token."""
    return any(t in text for t in CONTROL_TOKENS)


# ----------------------------------------------------------------------------------------------------------
# decode


def decode(planner_text: str, prompt: str, *, mentions: list[Mention] | None = None) -> Plan:
    """Turn planner output into a Plan.

    ``prompt`` is the user's request with its ``###path###``/``@path`` mentions (files are not opened unless
    ``mentions`` is None and ... never: pass checked ``mentions`` to carry content information).
    Raises ProtocolError (with ``.raw``) for malformed or truncated output.
    """
    raw = planner_text
    if mentions is None:
        mentions = find_mentions(prompt, check=False)
    text = clean_output(planner_text)
    plan_prompt = planning_prompt(prompt, mentions)

    if not is_token_plan(text):
        if not text:
            raise ProtocolError("the planner produced no output", raw)
        task = _understanding_task(mentions)
        inputs = [InputRef(path=m.path, kind=m.kind, role="context") for m in mentions]
        return Plan(task=task, prompt=plan_prompt, inputs=inputs, answer=text, planner="unison", raw=raw)

    fields = _parse_tokens(text, raw)
    family = fields["family"]
    markers = [k for k in (BOFIDX, BOEDIT, REF, CTRL) if k in fields]
    if len(markers) > 1:
        raise ProtocolError(f"conflicting task markers {', '.join(markers)}", raw)
    marker = markers[0] if markers else None
    if family == CFI and marker == BOFIDX:
        raise ProtocolError("<BOFIDX> (image-to-video) in an image plan (<CFI>)", raw)
    if family == CFI and BONF in fields:
        raise ProtocolError("<BONF> (frame count) in an image plan (<CFI>)", raw)

    task = {
        (CFI, None): Task.text_to_image,
        (CFI, BOEDIT): Task.image_edit,
        (CFI, REF): Task.image_reference,
        (CFI, CTRL): Task.image_control,
        (CFV, None): Task.text_to_video,
        (CFV, BOFIDX): Task.image_to_video,
        (CFV, BOEDIT): Task.video_edit,
        (CFV, REF): Task.video_reference,
        (CFV, CTRL): Task.video_control,
    }[(family, marker)]

    notes: list[str] = []
    width, height = fields.get(BORES, (DEFAULT_WIDTH, DEFAULT_HEIGHT))
    if (snap16(width), snap16(height)) != (width, height):
        notes.append(
            f"the planner asked for {width}x{height}; snapped to {snap16(width)}x{snap16(height)} "
            f"(sides are multiples of 16 between {MIN_SIDE} and {MAX_SIDE})"
        )
        width, height = snap16(width), snap16(height)
    if family == CFI:
        num_frames, fps = 1, None
    else:
        num_frames, fps = fields.get(BONF, DEFAULT_VIDEO_FRAMES - 1) + 1, DEFAULT_FPS
        if snap_frames(num_frames) != num_frames:
            notes.append(
                f"the planner asked for {num_frames} frames; using {snap_frames(num_frames)} (Wan makes "
                f"4k+1 frames, at most {MAX_FRAMES})"
            )
            num_frames = snap_frames(num_frames)

    files = dict(enumerate(mentions))  # indices count the mentioned files only, as the reference's do
    roles = dict.fromkeys(files, "context")
    frame_anchor = control = None
    if task is Task.image_to_video:
        frame_anchor = "first" if fields[BOFIDX] == 0 else "last"
        roles[_first_index(files, "image", raw, "an image to use as the first/last frame")] = "frame"
    elif task in (Task.image_edit, Task.video_edit):
        mask_idx, src_idx = fields[BOEDIT]
        want = "image" if task is Task.image_edit else "video"
        if src_idx not in files or files[src_idx].kind != want:
            if src_idx is not None:
                notes.append(
                    f"<BOEDIT> names file {src_idx} as the source, but it is not a mentioned {want} "
                    f"({_count(files)}); editing the first {want} mentioned"
                )
            src_idx = _first_index(files, want, raw, "a source to edit")
        roles[src_idx] = "source"
        if mask_idx is not None and (mask_idx not in files or mask_idx == src_idx):
            what = "the source" if mask_idx == src_idx else f"no file ({_count(files)})"
            notes.append(
                f"<BOEDIT> names file {mask_idx} as the mask, which is {what}; the mask is made by the annotators"
            )
        elif mask_idx is not None:
            roles[mask_idx] = "mask"
    elif task in (Task.image_reference, Task.video_reference):
        images = [i for i, m in files.items() if m.kind == "image"]
        if not images:
            raise ProtocolError("<REF> but the request mentions no reference image", raw)
        for i in images:
            roles[i] = "reference"
    elif task in (Task.image_control, Task.video_control):
        want = "image" if task is Task.image_control else "video"
        roles[_first_index(files, want, raw, "a control input", fallback_kind="image")] = "control"
        control = "ready"

    inputs = [InputRef(path=m.path, kind=m.kind, role=roles[i]) for i, m in files.items()]
    try:
        return Plan(
            task=task,
            prompt=plan_prompt,
            inputs=inputs,
            width=width,
            height=height,
            num_frames=num_frames,
            fps=fps,
            frame_anchor=frame_anchor,
            control=control,
            planner="unison",
            raw=raw,
            notes=notes,
            sized_by_planner=BORES in fields,
        )
    except PlanError as exc:
        raise ProtocolError(str(exc), raw) from None


def _count(files: dict[int, Mention]) -> str:
    """How the request's files are numbered, for a note: "files 0..2 are mentioned"."""
    n = len(files)
    return "no file is mentioned" if n == 0 else "file 0 is mentioned" if n == 1 else f"files 0..{n - 1} are mentioned"


def _understanding_task(mentions: list[Mention]) -> Task:
    if any(m.kind == "video" for m in mentions):
        return Task.video_understanding
    if any(m.kind == "image" for m in mentions):
        return Task.image_understanding
    return Task.text_understanding


def _first_index(files: dict[int, Mention], kind: str, raw: str, what: str, fallback_kind: str | None = None) -> int:
    for k in (kind, fallback_kind):
        for i, m in files.items():
            if k is not None and m.kind == k:
                return i
    raise ProtocolError(f"the plan needs {what} ({kind}), but the request mentions none", raw)


def _parse_tokens(text: str, raw: str) -> dict:
    """Walk the token stream; return the family and each marker's parsed value."""
    fields: dict = {}
    matches = list(TOKEN_RE.finditer(text))
    i = 0
    while i < len(matches):
        m = matches[i]
        tok = m.group(0)
        if tok in (CFI, CFV):
            if "family" in fields and fields["family"] != tok:
                raise ProtocolError("both <CFI> and <CFV> in one plan", raw)
            fields["family"] = tok
        elif tok in _PAIRS:
            end = _PAIRS[tok]
            if i + 1 >= len(matches) or matches[i + 1].group(0) != end:
                raise ProtocolError(f"{tok} is not closed by {end} (truncated or malformed output)", raw)
            if tok in fields:
                raise ProtocolError(f"{tok} appears twice", raw)
            value = text[m.end() : matches[i + 1].start()].strip()
            fields[tok] = _parse_value(tok, value, raw)
            i += 1
        elif tok in (REF, CTRL):
            fields[tok] = True
        elif tok in (EORES, EONF, EOFIDX, EOEDIT):
            raise ProtocolError(f"{tok} without its opening token", raw)
        # <IMGPAD>/<VIDPAD> echoed by the planner carry no meaning: ignore
        i += 1
    if "family" not in fields:
        raise ProtocolError("a token plan must start with <CFI> (image) or <CFV> (video)", raw)
    return fields


_INT = r"\s*(-?\d+)\s*"
_MAX_DIGITS = 9
"""Longer numbers are no plausible size, length or index (and would overflow float rounding, or exceed Python's
int conversion limit): a ProtocolError, not a crash."""


def _int(digits: str, tok: str, value: str, raw: str) -> int:
    if len(digits.lstrip("-")) > _MAX_DIGITS:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ProtocolError(f"{tok}{shown}: a number of more than {_MAX_DIGITS} digits", raw)
    return int(digits)


def _parse_value(tok: str, value: str, raw: str):
    if tok == BORES:
        m = re.fullmatch(rf"{_INT}[,x×]{_INT}", value)
        if not m:
            raise ProtocolError(f"<BORES>{value}<EORES>: expected 'width,height'", raw)
        w, h = _int(m.group(1), tok, value, raw), _int(m.group(2), tok, value, raw)
        if w <= 0 or h <= 0:
            raise ProtocolError(f"<BORES>{value}<EORES>: width and height must be positive", raw)
        return w, h
    if tok == BONF:
        m = re.fullmatch(_INT, value)
        if not m or _int(m.group(1), tok, value, raw) < 0:
            raise ProtocolError(f"<BONF>{value}<EONF>: expected a frame count", raw)
        return int(m.group(1))
    if tok == BOFIDX:
        low = value.lower()
        if low in ("first", "firstframe"):
            return 0
        if low in ("last", "lastframe"):
            return -1
        m = re.fullmatch(_INT, value)
        if not m:
            raise ProtocolError(f"<BOFIDX>{value}<EOFIDX>: expected a frame index (0 = first frame)", raw)
        return _int(m.group(1), tok, value, raw)
    # BOEDIT: "m,s", or "s" alone (no mask), or empty (first file is the source, no mask)
    if value == "":
        return None, None
    m = re.fullmatch(rf"{_INT},{_INT}", value)
    if m:
        mask, src = _int(m.group(1), tok, value, raw), _int(m.group(2), tok, value, raw)
        return (None if mask < 0 else mask), src
    m = re.fullmatch(_INT, value)
    if m:
        return None, _int(m.group(1), tok, value, raw)
    raise ProtocolError(f"<BOEDIT>{value}<EOEDIT>: expected 'mask_index,source_index'", raw)


# ----------------------------------------------------------------------------------------------------------
# encode


def encode(plan: Plan) -> str:
    """Write a plan in the token protocol (the inverse of ``decode`` for the fields the protocol carries)."""
    task = plan.task
    if task is Task.video_extend:
        from unison_agent.contract.errors import PlanError

        raise PlanError(
            "video_extend is not a planner task (the rules recognise extending a clip); the token "
            "protocol has no marker for it"
        )
    if task in UNDERSTANDING_TASKS:
        return neutralize(plan.answer or "")
    family = CFI if task.output == "image" else CFV
    parts = [family, f"{BORES}{plan.width},{plan.height}{EORES}"]
    if family == CFV:
        parts.append(f"{BONF}{plan.num_frames - 1}{EONF}")
    if task is Task.image_to_video:
        parts.append(f"{BOFIDX}{0 if plan.frame_anchor == 'first' else plan.num_frames - 1}{EOFIDX}")
    elif task in (Task.image_edit, Task.video_edit):
        src = next(i for i, r in enumerate(plan.inputs) if r.role == "source")
        mask = next((i for i, r in enumerate(plan.inputs) if r.role == "mask"), -1)
        parts.append(f"{BOEDIT}{mask},{src}{EOEDIT}")
    elif task in (Task.image_reference, Task.video_reference):
        parts.append(REF)
    elif task in (Task.image_control, Task.video_control):
        parts.append(CTRL)
    return "".join(parts)
