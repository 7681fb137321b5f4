"""File mentions in a request: ``###path###`` (any path, spaces allowed) and ``@path`` (no spaces).

Mentions are returned in the order they appear. For planning, each mention is replaced by ``<IMGPAD>`` or
``<VIDPAD>`` (the Unison convention); text the user typed that looks like a control token is neutralised
first, so it can never be read as one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from unison_agent.contract.errors import MediaError
from unison_agent.contract.tokens import IMGPAD, VIDPAD, neutralize
from unison_agent.media.files import MediaInfo, MediaLimits, check_file, kind_of

_HASH = r"###(?P<hash>.+?)###"
# @path: at the start or after whitespace/opening punctuation; ends before whitespace or closing punctuation.
_AT = r"(?:(?<=^)|(?<=[\s(\[{\"']))@(?P<at>[^\s\"'()\[\]{}]+?\.[A-Za-z0-9]{2,5})(?=$|[\s,;:!?)\]}\"']|\.(?:\s|$))"
MENTION_RE = re.compile(f"{_HASH}|{_AT}")
"""The one mention grammar: every module that looks for file mentions uses this pattern."""


@dataclass(frozen=True)
class Mention:
    """One file mention: the path as written, its kind, and where it was in the text."""

    path: str
    kind: str  # "image" | "video"
    start: int
    end: int
    info: MediaInfo | None = None  # filled when the file was checked

    @property
    def pad(self) -> str:
        return IMGPAD if self.kind == "image" else VIDPAD

    @property
    def is_mask(self) -> bool:
        return bool(self.info and self.info.is_mask)


def find_mentions(
    text: str,
    *,
    check: bool = True,
    base_dir: str | Path | None = None,
    virtual: Collection[str] = (),
    limits: MediaLimits | None = None,
) -> list[Mention]:
    """All mentions in order. With ``check``, each file must exist, be within ``limits`` (the settings' defaults
    when None) and its content must match its kind, except the ``virtual`` paths (files a later step will have: a
    compound request's earlier output, when only planning)."""
    mentions = []
    for m in MENTION_RE.finditer(text):
        raw = (m.group("hash") if m.group("hash") is not None else m.group("at")).strip()
        if not raw:
            raise MediaError("an empty ###...### mention; put a file path between the ### marks")
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise MediaError(f"the file name {raw!r} contains control characters (a NUL byte?); rename the file")
        path = raw
        if base_dir is not None and not Path(raw).expanduser().is_absolute():
            path = str(Path(base_dir) / raw)
        kind = kind_of(raw)
        info = None
        if check and path not in virtual:
            info = check_file(path, limits)
            if info.kind != kind:  # pragma: no cover - kind_of and check_file agree by construction
                raise MediaError(f"{raw}: its content is a {info.kind}, but its extension says {kind}")
        mentions.append(Mention(path=path, kind=kind, start=m.start(), end=m.end(), info=info))
    return mentions


def has_mentions(text: str) -> bool:
    """True when ``text`` names at least one file."""
    return MENTION_RE.search(text) is not None


def mention_path(written: str) -> str:
    """The path inside one mention as written (``###a b.png###`` -> ``a b.png``, ``@x.mp4`` -> ``x.mp4``)."""
    m = MENTION_RE.fullmatch(written.strip())
    if m is None:
        return written.strip()
    return (m.group("hash") if m.group("hash") is not None else m.group("at")).strip()


def planning_prompt(text: str, mentions: list[Mention] | None = None) -> str:
    """The text the planner reads: user-typed control tokens neutralised, mentions replaced by pad tokens.

    A pad the person typed (``<VIDPAD>`` for a file they do not attach, as the reference's examples do) stays a
    pad, but it is no file: planner indices (``<BOEDIT>m,s<EOEDIT>``) count the mentioned files only, in order,
    as the reference's ``###`` list does, so a typed pad never shifts them."""
    if mentions is None:
        mentions = find_mentions(text, check=False)
    out: list[str] = []
    pos = 0
    for m in mentions:
        out.append(neutralize(text[pos : m.start], keep_pads=True))
        out.append(m.pad)
        pos = m.end
    out.append(neutralize(text[pos:], keep_pads=True))
    return "".join(out).strip()


def strip_mentions(text: str, mentions: list[Mention] | None = None) -> str:
    """The text with mentions removed (for reading the user's words alone)."""
    if mentions is None:
        mentions = find_mentions(text, check=False)
    out, pos = [], 0
    for m in mentions:
        out.append(text[pos : m.start])
        out.append(" ")
        pos = m.end
    out.append(text[pos:])
    return re.sub(r"\s+", " ", "".join(out)).strip()
