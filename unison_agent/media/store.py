"""The media registry of a conversation: every input and output file gets a stable id (#1, #2, ...).

The registry is a plain list of dicts (it lives in the graph state, which must stay serialisable)::

    {"id": 3, "path": "/abs/out.png", "kind": "image", "origin": "output", "turn": 2, "task": "text_to_image",
     "note": "..."}

``origin`` is ``"input"`` (a file the user attached), ``"output"`` (generated) or ``"annotation"`` (an annotator
map). Later requests can refer to files by words; :func:`resolve_references` rewrites those words into
``###path###`` mentions before planning:

- ``#3`` -> media id 3
- ``the last video``, ``the previous image``, ``the latest picture``, ``the first image``, ``the second clip``
- ``the video`` / ``the image`` (the most recent one of that kind)
- ``it`` / ``this`` / ``that`` (as an object pronoun) -> the most recent output (or input, if nothing was made)

Nothing is rewritten when the request already names a file, or when the registry is empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from unison_agent.contract.errors import MediaError
from unison_agent.contract.mentions import has_mentions

MediaItem = dict[str, Any]

_KIND_WORDS = {
    "image": "image",
    "images": "image",
    "picture": "image",
    "pictures": "image",
    "photo": "image",
    "photos": "image",
    "pic": "image",
    "pics": "image",
    "video": "video",
    "videos": "video",
    "clip": "video",
    "clips": "video",
    "movie": "video",
    "animation": "video",
    "output": None,
    "result": None,
    "file": None,
}
_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
}
_LAST_WORDS = ("last", "latest", "previous", "most recent", "newest")
_KIND_RE = "|".join(sorted(_KIND_WORDS, key=len, reverse=True))
_POSITION_RE = "|".join([*_LAST_WORDS, *_ORDINALS])

_ID_RE = re.compile(r"(?<![#\w])#(\d+)\b")
_PHRASE_RE = re.compile(rf"\b(?:the|my|your)\s+(?:(?P<pos>{_POSITION_RE})\s+)?(?P<kind>{_KIND_RE})\b", re.I)
# "it"/"this"/"that" used as an object: not "that shows", "it is" at a sentence start is still bound (a question
# about the last output). "that"/"this" bind only when a verb/preposition context makes them pronouns.
_IT_RE = re.compile(r"\bit\b", re.I)
_THAT_RE = re.compile(
    r"\b(?:that|this)\b(?=\s*(?:$|[.,;:!?]|\s(?:into|to|in|with|as|from|and|so|but|please|more|less|brighter|"
    r"darker|bigger|smaller|longer|shorter|black|white|red|blue|green|purple|yellow)\b))",
    re.I,
)


def register(
    media: Sequence[MediaItem],
    path: str | Path,
    kind: str,
    *,
    origin: str,
    turn: int,
    task: str | None = None,
    note: str | None = None,
) -> tuple[list[MediaItem], MediaItem]:
    """Return (new registry, item). A path already registered keeps its id (inputs mentioned twice)."""
    path = str(Path(path).expanduser().resolve())
    for item in media:
        if item["path"] == path:
            return list(media), item
    item: MediaItem = {
        "id": next_id(media),
        "path": path,
        "kind": kind,
        "origin": origin,
        "turn": turn,
        "task": task,
        "note": note,
    }
    return [*media, item], item


def next_id(media: Sequence[MediaItem]) -> int:
    return max((int(m["id"]) for m in media), default=0) + 1


def by_id(media: Sequence[MediaItem], media_id: int) -> MediaItem:
    """The item with this id; MediaError (listing the known ids) otherwise."""
    for item in media:
        if int(item["id"]) == int(media_id):
            return item
    known = ", ".join(f"#{m['id']}" for m in media) or "none yet"
    raise MediaError(f"there is no media #{media_id} in this conversation (known: {known}); /media lists them")


def of_kind(media: Sequence[MediaItem], kind: str | None) -> list[MediaItem]:
    return [m for m in media if kind is None or m["kind"] == kind]


def latest(media: Sequence[MediaItem], kind: str | None = None, *, prefer_outputs: bool = True) -> MediaItem | None:
    """The most recent item (of a kind); outputs win over inputs when ``prefer_outputs``."""
    items = of_kind(media, kind)
    if prefer_outputs:
        outs = [m for m in items if m["origin"] == "output"]
        if outs:
            return outs[-1]
    return items[-1] if items else None


def mention(item: MediaItem) -> str:
    return f"###{item['path']}###"


def spoken(item: MediaItem) -> str:
    """A pronoun's replacement: "the image ###path###" (the kind word helps the planner read the sentence)."""
    return f"the {item['kind']} {mention(item)}"


def resolve_references(text: str, media: Sequence[MediaItem]) -> str:
    """Rewrite references to earlier media ("#3", "the last video", "it") into ``###path###`` mentions."""
    if not media:
        return text

    def by_number(m: re.Match[str]) -> str:
        return mention(by_id(media, int(m.group(1))))

    out = _ID_RE.sub(by_number, text)
    if out != text or has_mentions(text):
        return out

    def by_phrase(m: re.Match[str]) -> str:
        kind = _KIND_WORDS[m.group("kind").lower()]
        pos = (m.group("pos") or "").lower()
        items = of_kind(media, kind)
        if not items:
            return m.group(0)
        if pos in _ORDINALS:
            index = _ORDINALS[pos]
            if index >= len(items):
                what = kind or "file"
                raise MediaError(
                    f"'{m.group(0)}': this conversation has only {len(items)} {what}(s); /media lists them"
                )
            return spoken(items[index])
        chosen = latest(media, kind) if not pos else items[-1]
        return spoken(chosen) if chosen else m.group(0)

    out = _PHRASE_RE.sub(by_phrase, text, count=1)
    if out != text:
        return out
    target = latest(media)
    if target is None:
        return text
    out = _IT_RE.sub(spoken(target), text, count=1)
    if out != text:
        return out
    return _THAT_RE.sub(spoken(target), text, count=1)


def bind_previous(text: str, previous: Iterable[str]) -> str:
    """For a later step of a compound request: make it use the previous step's output.

    A pronoun ("it", "that", "this") becomes the mention; otherwise the mention is put in front of the step.
    A step that already names a file is left alone.
    """
    paths = list(previous)
    if not paths or has_mentions(text):
        return text
    from unison_agent.media.files import kind_of

    ref = f"the {kind_of(paths[-1])} ###{paths[-1]}###"
    out = _IT_RE.sub(ref, text, count=1)
    if out == text:
        out = _THAT_RE.sub(ref, text, count=1)
    if out == text:
        out = _PHRASE_RE.sub(ref, text, count=1)
    if out == text:
        out = f"###{paths[-1]}### {text}"
    return out


def describe(media: Sequence[MediaItem]) -> list[str]:
    """One line per item, for /media and history views."""
    lines = []
    for m in media:
        extra = f" ({m['task']})" if m.get("task") else ""
        lines.append(f"#{m['id']} {m['kind']:<5} {m['origin']:<10} turn {m['turn']}{extra}  {m['path']}")
    return lines
