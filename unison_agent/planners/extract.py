"""Deterministic reading of explicit values in a request: size, duration/frames, frame anchor, control kind,
file roles and the edit target.

These are the facts a user states in words ("1280x720", "3 seconds", "as the last frame", "###m.png### is the
mask"). The rules planner is built on them, and the model planners let them win over a model's values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from unison_agent.contract.errors import PlanError
from unison_agent.contract.plan import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    MAX_FRAMES,
    MAX_SIDE,
    MIN_SIDE,
    snap16,
    snap_frames,
)
from unison_agent.planners.targets import target_from_request as find_target  # noqa: F401  (one implementation)

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "half a": 0.5,
}
NUMBER = r"(\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(k) for k in _NUMBER_WORDS), key=len, reverse=True)) + r")"
DEFAULT_AREA = DEFAULT_WIDTH * DEFAULT_HEIGHT

# "720p" style presets: short side -> long side (16:9, multiples of 16; 480p is Wan's 832x480)
_PRESETS = {240: 416, 360: 640, 480: 832, 540: 960, 576: 1024, 720: 1280, 1080: 1920, 1440: 2560, 2160: 3840}


def number_value(token: str) -> float:
    """A number as written in a request: digits, or a word ("five", "half a")."""
    token = token.lower().strip()
    if token in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[token])
    return float(token)


def _checked_size(w: float, h: float, said: str) -> tuple[int, int]:
    """Snap to multiples of 16 (a documented correction); sizes out of bounds are a clear error."""
    w16, h16 = snap16(w, bounded=False), snap16(h, bounded=False)
    for side, name in ((w16, "width"), (h16, "height")):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise PlanError(
                f"{name}: {said!r} asks for {int(w)}x{int(h)}, outside what the model can make; "
                f"use sides between {MIN_SIDE} and {MAX_SIDE} pixels (e.g. 1280x720 or 832x480)"
            )
    return w16, h16


# ----------------------------------------------------------------------------------------------------------
# size

_SIZE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(\d{2,5})\s*(?:px\s*)?(?:x|×|\*|by)\s*(\d{2,5})\s*(?:px|pixels?)?\b", re.I), "wh"),
    (
        re.compile(
            r"\bwidth\s*(?:of|=|:|is)?\s*(\d{2,5})\s*(?:px|pixels?)?.{0,30}?\bheight\s*(?:of|=|:|is)?\s*(\d{2,5})", re.I
        ),
        "wh",
    ),
    (
        re.compile(
            r"\bheight\s*(?:of|=|:|is)?\s*(\d{2,5})\s*(?:px|pixels?)?.{0,30}?\bwidth\s*(?:of|=|:|is)?\s*(\d{2,5})", re.I
        ),
        "hw",
    ),
    (
        re.compile(
            r"\b(\d{2,5})\s*(?:px|pixels?)?\s*wide\b.{0,30}?\b(\d{2,5})\s*(?:px|pixels?)?\s*(?:tall|high)\b", re.I
        ),
        "wh",
    ),
    (
        re.compile(
            r"\b(\d{2,5})\s*(?:px|pixels?)?\s*(?:tall|high)\b.{0,30}?\b(\d{2,5})\s*(?:px|pixels?)?\s*wide\b", re.I
        ),
        "hw",
    ),
    (re.compile(r"\bw\s*[=:]?\s*(\d{2,5})\s*[,;/ ]\s*h\s*[=:]?\s*(\d{2,5})\b", re.I), "wh"),
]
_PRESET_RE = re.compile(r"\b(\d{3,4})\s*[pP]\b")
_K_RE = re.compile(r"\b([248])\s*[kK]\b(?!\s*(?:frames?|fps))")
_RATIO_RE = re.compile(r"\b(\d{1,2}(?:\.\d+)?)\s*:\s*(\d{1,2}(?:\.\d+)?)\b(?:\s*(?:aspect|ratio|format))?")
_PORTRAIT_RE = re.compile(
    r"\b(?:vertical|portrait\s+(?:mode|orientation|format|aspect)|in\s+portrait|tall\s+format|"
    r"phone\s+(?:screen|format)|for\s+(?:tiktok|reels|stories|shorts))\b",
    re.I,
)
_LANDSCAPE_RE = re.compile(r"\b(?:landscape|horizontal|widescreen|wide\s*screen|cinematic\s+wide)\b", re.I)
_SQUARE_RE = re.compile(
    r"\bsquare\s+(?:image|picture|photo|video|clip|format|aspect|frame|crop|resolution|ratio|size|poster|logo|icon|"
    r"animation|shape\s+video)\b|\bin\s+square\b|\bsquare(?:\s+format)?\s*$|\b1\s*:\s*1\b",
    re.I,
)
_SIDE_RE = re.compile(r"\b(width|height)\s*(?:of|=|:|is)?\s*(\d{2,5})\s*(?:px|pixels?)?", re.I)
_SIDE_RE2 = re.compile(r"\b(\d{2,5})\s*(?:px|pixels?)?\s*(wide|tall|high)\b", re.I)


Shape = Literal["exact", "ratio", "portrait", "landscape", "square"]
"""How a size was said: "exact" (numbers, a preset such as 720p, a side), or only a shape: "ratio" (4:3),
"portrait", "landscape", "square" (words, at the default area)."""


def find_size_and_shape(text: str) -> tuple[tuple[int, int], Shape] | None:
    """An explicit output size and how it was said (see :data:`Shape`), or None. Orientation words flip presets;
    ratios keep the default area."""
    portrait = bool(_PORTRAIT_RE.search(text))
    for pattern, order in _SIZE_PATTERNS:
        m = pattern.search(text)
        if m:
            a, b = float(m.group(1)), float(m.group(2))
            w, h = (a, b) if order == "wh" else (b, a)
            return _checked_size(w, h, m.group(0)), "exact"
    m = _PRESET_RE.search(text) or _K_RE.search(text)
    if m:
        if m.re is _K_RE:
            short = {"2": 1440, "4": 2160, "8": 4320}[m.group(1)]
        else:
            short = int(m.group(1))
        long = _PRESETS.get(short, short * 16 / 9)
        if _SQUARE_RE.search(text):
            return _checked_size(short, short, m.group(0)), "exact"
        if portrait:
            return _checked_size(short, long, m.group(0)), "exact"
        return _checked_size(long, short, m.group(0)), "exact"
    sides = {}
    for m in _SIDE_RE.finditer(text):
        sides[m.group(1).lower()] = float(m.group(2))
    for m in _SIDE_RE2.finditer(text):
        sides["width" if m.group(2).lower() == "wide" else "height"] = float(m.group(1))
    if sides:
        w = sides.get("width")
        h = sides.get("height")
        if w is None:
            w = h * DEFAULT_WIDTH / DEFAULT_HEIGHT
        if h is None:
            h = w * DEFAULT_HEIGHT / DEFAULT_WIDTH
        return _checked_size(w, h, "width/height"), "exact"
    m = _RATIO_RE.search(text)
    if m and not re.search(r"\d\s*:\s*\d\d\s*(?:am|pm)\b", text, re.I):
        rw, rh = float(m.group(1)), float(m.group(2))
        if rw > 0 and rh > 0 and 0.2 <= rw / rh <= 5:
            h = math.sqrt(DEFAULT_AREA * rh / rw)
            return _checked_size(h * rw / rh, h, m.group(0)), "ratio"
    if portrait:
        return (DEFAULT_HEIGHT, DEFAULT_WIDTH), "portrait"
    if _SQUARE_RE.search(text):
        side = snap16(math.sqrt(DEFAULT_AREA))
        return (side, side), "square"
    if _LANDSCAPE_RE.search(text):
        return (DEFAULT_WIDTH, DEFAULT_HEIGHT), "landscape"
    return None


def fits_shape(width: int, height: int, shape: Shape | None, said: tuple[int, int]) -> bool:
    """Whether a planner's ``width`` x ``height`` already is what a shape-only request asked for (``said``: the
    size the words give at the default area): the orientation, or the ratio within 5 %. Never for an exact size."""
    if shape == "landscape":
        return width > height
    if shape == "portrait":
        return height > width
    if shape == "square":
        return width == height
    if shape == "ratio":
        return abs((width / height) / (said[0] / said[1]) - 1) <= 0.05
    return False


# ----------------------------------------------------------------------------------------------------------
# duration / frames

_SECONDS_RE = re.compile(rf"\b{NUMBER}\s*(?:-\s*)?(?:s|sec|secs|second|seconds)\b(?!\s*(?:frame|image|picture))", re.I)
_MINUTES_RE = re.compile(rf"\b{NUMBER}\s*(?:-\s*)?(?:min|mins|minute|minutes)\b", re.I)
_FRAMES_RE = re.compile(r"\b(\d{1,4})\s*(?:-\s*)?frames?\b(?!\s*(?:per|/|a)\s*(?:second|sec|s)\b)", re.I)


def find_num_frames(text: str) -> int | None:
    """Explicit video length as a 4k+1 frame count: a duration in seconds (16 fps) or a frame count."""
    m = _FRAMES_RE.search(text)
    if m:
        n = int(m.group(1))
        if n > MAX_FRAMES:
            raise PlanError(
                f"num_frames: {n} frames is too long; at most {MAX_FRAMES} "
                f"({(MAX_FRAMES - 1) // DEFAULT_FPS} s at {DEFAULT_FPS} fps)"
            )
        return snap_frames(n)
    seconds = None
    m = _SECONDS_RE.search(text)
    if m:
        seconds = number_value(m.group(1))
    else:
        m = _MINUTES_RE.search(text)
        if m:
            seconds = 60 * number_value(m.group(1))
    if seconds is None:
        return None
    if seconds <= 0:
        raise PlanError(f"num_frames: a {seconds:g}-second video is empty; ask for at least a fraction of a second")
    frames = round(DEFAULT_FPS * seconds) + 1
    if frames > MAX_FRAMES:
        raise PlanError(
            f"num_frames: a {seconds:g}-second video is too long; the model makes at most "
            f"{(MAX_FRAMES - 1) // DEFAULT_FPS} seconds ({MAX_FRAMES} frames at {DEFAULT_FPS} fps)"
        )
    return snap_frames(frames)


# ----------------------------------------------------------------------------------------------------------
# first / last frame

_FIRST_RE = re.compile(
    r"\b(?:first|starting|start|opening|initial|beginning)\s+(?:frame|image|shot)\b|\bstart(?:s|ing)?\s+(?:from|with|at|on)\b"
    r"|\bbegin(?:s|ning)?\s+(?:from|with|at)\b|\bfrom\s+(?:this|the)\s+(?:image|picture|photo)\b",
    re.I,
)
_LAST_RE = re.compile(
    r"\b(?:last|final|ending|end|closing|concluding)\s+(?:frame|image|shot)\b|\bend(?:s|ing)?\s+(?:with|on|at|in)\b"
    r"|\bfinish(?:es|ing)?\s+(?:with|on|at)\b|\bleads?\s+(?:up\s+)?to\b|\barriv(?:e|es|ing)\s+at\b|\bresult(?:s|ing)?\s+in\b",
    re.I,
)


def find_frame_anchor(text: str, near: int | None = None) -> str | None:
    """'first' or 'last' when the wording says which frame the given image is; the phrase nearest ``near`` wins."""
    found: list[tuple[int, str]] = []
    for m in _FIRST_RE.finditer(text):
        found.append((m.start(), "first"))
    for m in _LAST_RE.finditer(text):
        found.append((m.start(), "last"))
    if not found:
        return None
    if near is None:
        return min(found)[1]
    return min(found, key=lambda f: abs(f[0] - near))[1]


# ----------------------------------------------------------------------------------------------------------
# control

_CONTROL_WORDS: list[tuple[str, re.Pattern[str]]] = [
    (
        "pose",
        re.compile(
            r"\b(?:pose|poses|posture|skeleton|openpose|keypoints?|body\s+(?:movement|motion)|dance\s+moves?)\b", re.I
        ),
    ),
    ("depth", re.compile(r"\b(?:depth|depth\s*map|3d\s+structure|geometry)\b", re.I)),
    ("flow", re.compile(r"\b(?:optical\s+flow|flow\s+(?:map|field|video)|motion\s+field)\b", re.I)),
    ("scribble", re.compile(r"\b(?:scribbles?|doodles?|rough\s+sketch)\b", re.I)),
    ("canny", re.compile(r"\b(?:canny|edges?|edge\s*map|outlines?|contours?|line\s*art|lineart|sketch)\b", re.I)),
    (
        "gray",
        re.compile(
            r"\b(?:gr[ae]y\s*scale|gr[ae]y|black\s+and\s+white|b&w|colou?ri[sz]e|colou?ri[sz]ation|add\s+colou?rs?)\b",
            re.I,
        ),
    ),
]
_READY_RE = re.compile(
    r"\balready\b|\b(?:this|the|my|given|following|provided|attached|these)\s+"
    r"(?:pose|skeleton|depth|edge|canny|sketch|scribble|flow|gr[ae]y(?:scale)?|control|keypoint)\s*"
    r"(?:map|maps|video|clip|sequence|signal|image|frames?|input|animation|drawing)\b"
    r"|\b(?:this|the|my|given|attached|provided)\s+(?:scribble|sketch|doodle|line\s*art|lineart)\b(?!\s+(?:of|from)\b)",
    re.I,
)


def control_kind_words(text: str) -> str | None:
    """The kind of control map the words name ("pose", "depth", ...), even when they also say the input already
    is one; None when they name none."""
    return next((name for name, pattern in _CONTROL_WORDS if pattern.search(text)), None)


def find_control(text: str, paths: list[str] | None = None) -> str | None:
    """The control kind the wording asks for ('ready' when it says the input already is a control signal), or
    None. File names never count (``paths`` is accepted and ignored); whether a file already is a control map is
    decided from its pixels when the request is prepared (:mod:`unison_agent.media.control_maps`)."""
    kind = None
    for name, pattern in _CONTROL_WORDS:
        if pattern.search(text):
            kind = name
            break
    if kind is None:
        return None
    if _READY_RE.search(text):
        return "ready"
    return kind


# ----------------------------------------------------------------------------------------------------------
# roles by wording (mask / source / reference next to a mention)

_MASK_NEAR = re.compile(r"\bmasks?\b|\bmasked\b|\bregion\b|\barea\s+to\s+(?:edit|change|fill)\b", re.I)


@dataclass
class Explicit:
    """Values a user stated explicitly; None = not said."""

    width: int | None = None
    height: int | None = None
    shape: Shape | None = None  # how the size was said: "exact", or only a ratio / an orientation
    num_frames: int | None = None
    frame_anchor: str | None = None
    control: str | None = None
    target: str | None = None
    mask_index: int | None = None
    mask_by: str | None = None  # "wording" | "content"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "notes"}


def mask_mentions(text: str, mentions: list) -> tuple[int | None, str | None]:
    """Index of the mention that is the mask: named so in the words around it, else found by content."""
    for i, m in enumerate(mentions):
        before = text[max(0, m.start - 40) : m.start]
        after = text[m.end : m.end + 30]
        # "use ###m### as the mask", "the mask ###m###", "###m### (mask)", "mask: ###m###"
        if re.search(r"\bmask\b[^.;,]{0,12}$", before, re.I) or re.match(
            r"\s*(?:\(|,)?\s*(?:as|is|for)?\s*(?:the|a)?\s*masks?\b", after, re.I
        ):
            return i, "wording"
    for i, m in enumerate(mentions):
        if getattr(m, "is_mask", False):
            return i, "content"
    return None, None


def read_explicit(text: str, words: str, mentions: list) -> Explicit:
    """Everything the user stated explicitly in a request (its text, its words without the mentions, its checked
    mentions); ``Request`` reads it once, as ``request.explicit``."""
    found = find_size_and_shape(words)
    size, shape = found if found else (None, None)
    mask_idx, mask_by = mask_mentions(text, mentions)
    frame_at = next((m.start for m in mentions if m.kind == "image"), None)
    return Explicit(
        width=size[0] if size else None,
        height=size[1] if size else None,
        shape=shape,
        num_frames=find_num_frames(words),
        frame_anchor=find_frame_anchor(text, near=frame_at),
        control=find_control(words, [m.path for m in mentions]),
        target=find_target(words),
        mask_index=mask_idx,
        mask_by=mask_by,
    )
