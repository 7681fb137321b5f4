"""The target of an edit, read from the request's words: "make **the bird** white" -> "bird".

Used by the planners (the plan's ``target``) and by the grounded-mask annotator (what to look for).
"""

from __future__ import annotations

import re

from unison_agent.contract.mentions import MENTION_RE
from unison_agent.contract.tokens import IMGPAD, VIDPAD

_MENTION = re.compile(f"{MENTION_RE.pattern}|{re.escape(IMGPAD)}|{re.escape(VIDPAD)}")
_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|[\"“”](.+?)[\"“”]|'([^']+?)'(?!\w)")
_VERBS = (
    "make|turn|paint|colou?r|recolou?r|change|replace|remove|erase|delete|swap|transform|convert|edit|modify|"
    "dress|give|put|add|fill|hide|blur|brighten|darken|shrink|enlarge|restyle|mask|segment|select|cover"
)
_DETERMINERS = {
    "the",
    "a",
    "an",
    "some",
    "this",
    "that",
    "these",
    "those",
    "his",
    "her",
    "its",
    "their",
    "my",
    "your",
    "our",
}
_STOP = {
    "to",
    "into",
    "in",
    "on",
    "at",
    "with",
    "by",
    "from",
    "for",
    "as",
    "so",
    "and",
    "or",
    "but",
    "then",
    "that",
    "which",
    "who",
    "while",
    "look",
    "looks",
    "looking",
    "appear",
    "is",
    "are",
    "be",
    "become",
    "please",
    "using",
    "instead",
    "like",
    "of",
    "wear",
    "wears",
    "wearing",
    "hold",
    "holds",
    "holding",
    "has",
    "have",
    "having",
}
_COMPLEMENTS = {
    "white",
    "black",
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "purple",
    "pink",
    "brown",
    "grey",
    "gray",
    "golden",
    "gold",
    "silver",
    "transparent",
    "invisible",
    "bigger",
    "smaller",
    "larger",
    "brighter",
    "darker",
    "happy",
    "sad",
    "older",
    "younger",
    "disappear",
    "vanish",
    "gone",
    "colorful",
    "colourful",
    "smile",
    "smiling",
    "laugh",
    "laughing",
    "cry",
    "crying",
    "dance",
    "dancing",
    "run",
    "running",
    "jump",
    "jumping",
    "fly",
    "flying",
    "wave",
    "waving",
    "move",
    "moving",
    "taller",
    "shorter",
    "wider",
    "thinner",
}
_ATTRIBUTES = {"color", "colour", "colours", "colors", "shape", "size", "texture", "style", "pattern", "material"}
_NOT_TARGETS = {
    "image",
    "picture",
    "photo",
    "photograph",
    "video",
    "clip",
    "frame",
    "frames",
    "scene",
    "it",
    "them",
    "everything",
    "whole",
    "entire",
    "footage",
    "shot",
    "movie",
    "film",
    "file",
}


def target_from_request(text: str) -> str | None:
    """The thing a request asks to edit, as a short noun phrase, or None when it names none.

    Emphasis wins ("make **the bird** white" -> "bird"); otherwise the noun phrase after an edit verb
    ("replace the cat with a dog" -> "cat", "change the colour of the car to red" -> "car"), with leading
    determiners and trailing complements dropped ("make the red car blue" -> "red car"). Whole-media words
    ("make the image brighter") name no target.
    """
    if not text or not text.strip():
        return None
    clean = _MENTION.sub(" ", text)
    for match in _EMPHASIS.finditer(clean):
        phrase = next(g for g in match.groups() if g is not None)
        words = _words(phrase)
        while words and words[0] in _DETERMINERS:
            words = words[1:]
        if words and not set(words) <= _NOT_TARGETS:
            return " ".join(words)
    words = _words(clean)
    verb = re.compile(rf"^(?:{_VERBS})$")
    for i, word in enumerate(words):
        if verb.match(word):
            if i > 0 and words[i - 1] in _DETERMINERS:  # "here is the mask", "a change": a noun, not a verb
                continue
            if word in _PLACING_VERBS:  # "put a hat on the dog": the place, not the new thing, is edited
                place = _placement(words, i + 1)
                if place:
                    return place
                if any(w in _PLACES for w in words[i + 1 : i + 5]):  # "add stars to <the file>": no place named
                    return None
            phrase = _noun_phrase(words, i + 1)
            if phrase:
                return phrase
    return None


_PLACING_VERBS = {"put", "add", "place"}
_PLACES = {"on", "onto", "to", "in", "into", "over", "around", "at"}


def _placement(words: list[str], start: int) -> str | None:
    """For "put X on the Y" / "add X to the Y": the noun phrase Y (None when there is no such place)."""
    for j in range(start, min(len(words), start + 6)):
        if words[j] in _PLACES:
            return _noun_phrase(words, j + 1)
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z0-9'-]*", text.lower())


def _noun_phrase(words: list[str], start: int) -> str | None:
    """The noun phrase beginning at ``words[start]`` (skipping a determiner and 'the colour of')."""
    i = start
    while i < len(words) and words[i] in _DETERMINERS:
        i += 1
    phrase: list[str] = []
    while i < len(words) and len(phrase) < 4 and words[i] not in _STOP and words[i] not in _DETERMINERS:
        phrase.append(words[i])
        i += 1
    if phrase and phrase[-1] in _ATTRIBUTES and i < len(words) and words[i] == "of":
        return _noun_phrase(words, i + 1)
    while len(phrase) > 1 and phrase[-1] in _COMPLEMENTS:
        phrase.pop()
    if not phrase or phrase == [phrase[0]] and phrase[0] in _COMPLEMENTS or set(phrase) & _NOT_TARGETS:
        return None
    return " ".join(phrase)
