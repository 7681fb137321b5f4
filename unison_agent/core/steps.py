"""Deterministic reading of a request before planning: compound requests and annotator requests.

``split_steps("make a picture of a red fox, then turn it into a 3-second video, then make the snow purple")``
gives three steps. Separators: ", then", "; then", "and then", ". Then", "after that" (case-insensitive, never
inside a ``###path###`` mention).

``annotation_request(text)`` recognises a request for an annotator map alone ("show me the depth of
###v.mp4###", "extract the pose from @dance.mp4", "mask the bird in ###a.png###") and returns the annotator
kind, the file and an optional target; generation requests are left to the planner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unison_agent.contract.mentions import MENTION_RE, mention_path

_SPLIT_RE = re.compile(
    r"\s*(?:[,;]\s*(?:and\s+)?then\b|\band\s+then\b|\.\s+then\b|[,;.]?\s*\bafter\s+that\b)[\s,]*",
    re.I,
)


def split_steps(text: str) -> list[str]:
    """The request's steps, in order (one step when it is not compound)."""
    hidden: list[str] = []

    def hide(m: re.Match[str]) -> str:
        hidden.append(m.group(0))
        return f"\x00{len(hidden) - 1}\x00"

    masked = MENTION_RE.sub(hide, text)
    parts = [p.strip(" ,;") for p in _SPLIT_RE.split(masked)]
    steps = []
    for part in parts:
        if not part:
            continue
        steps.append(re.sub(r"\x00(\d+)\x00", lambda m: hidden[int(m.group(1))], part))
    return steps or [text.strip()]


# ------------------------------------------------------------------------------------------------------------
# annotator requests

# words -> annotator kind (the names in tools.registry.ANNOTATORS)
_KIND_WORDS: dict[str, str] = {
    "depth map": "depth",
    "depth": "depth",
    "pose skeleton": "pose",
    "skeleton": "pose",
    "poses": "pose",
    "pose": "pose",
    "canny edges": "canny",
    "edge map": "canny",
    "edges": "canny",
    "canny": "canny",
    "optical flow": "flow",
    "flow": "flow",
    "scribbles": "scribble",
    "scribble": "scribble",
    "sketch": "scribble",
    "grayscale": "gray",
    "greyscale": "gray",
    "gray": "gray",
    "grey": "gray",
    "salient mask": "salient",
    "saliency": "salient",
    "segmentation": "mask",
    "mask": "mask",
}
_KINDS_RE = "|".join(re.escape(k) for k in sorted(_KIND_WORDS, key=len, reverse=True))
_VERBS = (
    r"(?:show(?:\s+me)?|give(?:\s+me)?|extract|get|compute|estimate|make|create|run|detect|find|draw|render|produce)"
)
_ANNOTATE_RE = re.compile(
    rf"^\s*(?:please\s+)?(?:{_VERBS}\s+)?(?:me\s+)?(?:the\s+|a\s+|an\s+)?(?P<kind>{_KINDS_RE})"
    rf"(?:\s+(?:map|maps|video|image|frames|estimation|annotation))?"
    rf"(?:\s+(?:of|for)\s+(?P<target>(?:the\s+)?[a-z][a-z\s-]*?))?"
    rf"\s+(?:of|for|from|in|on)\s+(?P<file>###.+?###|@\S+)\s*[.!?]?\s*$",
    re.I,
)
_MASK_VERB_RE = re.compile(
    r"^\s*(?:please\s+)?(?:mask|segment)\s+(?:out\s+)?(?P<target>(?:the\s+)?[a-z][a-z\s-]*?)\s+"
    r"(?:of|in|from|on)\s+(?P<file>###.+?###|@\S+)\s*[.!?]?\s*$",
    re.I,
)


@dataclass(frozen=True)
class AnnotationRequest:
    """An annotator-only request: which annotator, on which file (as written), for which target."""

    kind: str
    file: str
    target: str | None = None


def annotation_request(text: str) -> AnnotationRequest | None:
    """Recognise "show me the depth of ###x###"-style requests; None for anything else."""
    m = _ANNOTATE_RE.match(text)
    if m:
        kind = _KIND_WORDS[m.group("kind").lower()]
        target = _clean_target(m.group("target"))
        return AnnotationRequest(
            kind=kind, file=mention_path(m.group("file")), target=target if kind == "mask" else None
        )
    m = _MASK_VERB_RE.match(text)
    if m:
        return AnnotationRequest(
            kind="mask", file=mention_path(m.group("file")), target=_clean_target(m.group("target"))
        )
    return None


def _clean_target(target: str | None) -> str | None:
    if not target:
        return None
    target = re.sub(r"^(?:the|a|an)\s+", "", target.strip(), flags=re.I).strip()
    return target or None
