"""The rule-based planner: deterministic, no model, all twelve tasks and their meta-information.

It reads the user's words (never the files' paths) for intent — a question, a creation, an edit, an animation,
a control signal, a reference — and the mentioned files' kinds and content (a binary single-channel image is a
mask) for roles. Explicit values (size, duration, first/last frame, control kind, target) come from
:mod:`unison_agent.planners.extract`; everything else takes the method's defaults (832x480, 81 frames, 16 fps).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from unison_agent.contract.plan import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_VIDEO_FRAMES,
    DEFAULT_WIDTH,
    InputRef,
    Plan,
    Task,
)
from unison_agent.planners.base import Request

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
from unison_agent.planners.extract import (
    Explicit,
    find_control,
    find_frame_anchor,
    find_num_frames,
    find_target,
    mask_mentions,
)

_QUESTION_RE = re.compile(
    r"\?\s*$|^\s*(?:what|who|whom|whose|which|where|when|why|how|is|are|was|were|does|do|did|can|could|would|should|"
    r"will|has|have|tell\s+me|describe|explain|summari[sz]e|caption|count|list|identify|read|translate|compare|"
    r"analy[sz]e|name|give\s+me\s+(?:a\s+)?(?:description|summary|caption))\b",
    re.I,
)
_UNDERSTAND_VERB_RE = re.compile(
    r"\b(?:describe|explain|summari[sz]e|caption|what(?:'s| is| are| does| do)|who(?:'s| is)|how\s+many|count|identify|"
    r"tell\s+me|analy[sz]e|compare|transcribe|read\s+(?:the\s+)?text|translate|what\s+happens)\b",
    re.I,
)
_CREATE_RE = re.compile(
    r"\b(?:bring\b.{0,40}\bto\s+life|come\s+(?:to\s+)?(?:alive|life)|(?:turn|convert|transform|make)\b.{0,60}\binto\s+"
    r"(?:a|an)?\s*(?:\w+\s+){0,3}(?:video|clip|animation|movie|gif|picture|image|photo|painting|drawing)|generate|create|make|draw|paint|render|produce|design|illustrate|sketch\s+(?:a|an|me)|imagine|visuali[sz]e|"
    r"compose|film|shoot|animate|show\s+me\s+(?:a|an|some)|give\s+me\s+(?:a|an)\s+(?:picture|image|photo|video|clip|"
    r"drawing|painting|illustration|animation)|i\s+(?:want|need|would\s+like)\s+(?:a|an|to\s+see)|picture\s+of|"
    r"image\s+of|photo\s+of|video\s+of|clip\s+of|footage\s+of|as\s+(?:a|an)\s+(?:[\w-]+\s+){0,3}(?:video|clip|"
    r"animation|movie|gif|picture|image|photo|painting|drawing|illustration))\b",
    re.I,
)
_VIDEO_OUT_RE = re.compile(
    r"\b(?:video|videos|clip|clips|animation|animated|animate|animating|movie|film|footage|gif|timelapse|time-lapse|"
    r"slow[\s-]?motion|moving|in\s+motion|motion|frames|seconds?|secs?|\d+\s*s|minutes?|come\s+(?:to\s+)?(?:alive|life)|"
    r"bring\s+(?:it|this|them)?\s*to\s+life|make\s+(?:it|this|them)\s+move)\b",
    re.I,
)
_IMAGE_OUT_RE = re.compile(
    r"\b(?:image|picture|photo|photograph|illustration|drawing|painting|poster|wallpaper|still|snapshot|artwork|"
    r"logo|icon|render|portrait\s+of|selfie)\b",
    re.I,
)
_EDIT_RE = re.compile(
    r"\b(?:edit|alter|modify|apply\s+(?:the|this|my)\s+mask|replace|remove|erase|delete|recolou?r|inpaint|in-paint|fill|swap|get\s+rid\s+of|take\s+out|"
    r"change\s+(?:the|his|her|its|their|all)|turn\s+(?:the|his|her|its|their)\s+\w+|make\s+(?:the|his|her|its|their)\s+\w+|"
    r"paint\s+(?:the|his|her|its|their)|colou?r\s+(?:the|his|her|its|their)|add\s+(?:(?:a|an|some|the|more)\s+)?\w+(?:\s+\w+)?\s+(?:to|on|in|into|onto)|"
    r"put\s+(?:(?:a|an|some|the)\s+)?\w+(?:\s+\w+)?\s+(?:on|in|into|onto|over)|hide\s+the|blur\s+(?:the|out)|fix\s+the|without\s+the|retouch|touch\s+up)\b",
    re.I,
)
_REFERENCE_RE = re.compile(
    r"\b(?:reference|this\s+(?:person|man|woman|girl|boy|guy|lady|character|subject|face|dog|cat|pet|animal|object|"
    r"product|toy|car|creature|logo|outfit|style)|the\s+(?:person|man|woman|character|subject|face)\s+(?:in|from)|"
    r"same\s+(?:person|character|face|subject|dog|cat|object|product)|featuring|starring|with\s+(?:him|her|them)|"
    r"of\s+(?:him|her|them)|(?:him|her|them|it)\s+(?:riding|walking|running|sitting|standing|dancing|playing|"
    r"wearing|holding|flying|swimming|surfing|eating|on|in|at)|"
    r"as\s+(?:a|an)\s+(?!(?:[\w-]+\s+){0,3}(?:video|clip|animation|movie|gif|picture|image|photo)\b)\w+|identity|keep\s+(?:the|his|her)\s+"
    r"(?:face|look|identity)|ip\b|subject[- ]driven|personali[sz]ed)\b",
    re.I,
)
_STYLE_OF_SOURCE_RE = re.compile(
    r"\b(?:following|follow|matching|match|same|copy(?:ing)?|mimic|like)\s+(?:the\s+)?(?:pose|poses|motion|movement|"
    r"moves|depth|layout|structure|composition|edges|outline)\b|\b(?:guided|driven|controlled|conditioned)\s+by\b"
    r"|\b(?:pose|poses|depth|edges|outlines?|skeleton|motion|movement|structure|layout|optical\s+flow|sketch|"
    r"scribble)\s+(?:of|from|in)\b",
    re.I,
)


_ANIMATE_RE = re.compile(
    r"\b(?:animat(?:e|es|ed|ing)\b(?!\s+(?:film|movie|series|cartoon|character)s?\b)|bring\b.{0,40}?\bto\s+life|"
    r"comes?\s+(?:to\s+)?(?:alive|life)|make\s+(?:[\w'-]+\s+){0,3}?(?:move|moving|dance|sway|walk|run)\b|"
    r"set\s+(?:\w+\s+){0,2}?in\s+motion|put\s+(?:\w+\s+){0,2}?in\s+motion|"
    r"(?:turn|convert|transform|make|change)\b.{0,60}?\binto\s+(?:a|an)?\s*(?:[\w-]+\s+){0,3}"
    r"(?:video|clip|animation|movie|gif|cinemagraph)|"
    r"(?:start|begin|open)\s+(?:a|the)\s+(?:[\w-]+\s+){0,2}(?:video|clip|animation)\s+(?:from|with|on)|"
    r"(?:video|clip|animation|movie)\s+(?:from|out\s+of|based\s+on|starting\s+(?:from|with))\s*(?:$|[.,;:!?]|this|that|the\s+(?:image|picture|photo))"
    r")",
    re.I,
)
"""Animation wording: an image attached to such a request is animated (image-to-video), whatever its pixels."""
_SUBJECT_FROM_RE = re.compile(
    r"\b(?:the|same)\s+(?:person|man|woman|girl|boy|character|subject|face|dog|cat|pet|animal)\s+(?:from|in|of)\b|"
    r"\b(?:starring|featuring|identity)\b",
    re.I,
)
"""Reference wording strong enough to win over animation wording ("animate the character from ###x### running")."""


_POLITE_REQUEST_RE = re.compile(
    r"^\s*(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:generate|create|make|draw|paint|render|produce|animate|"
    r"edit|replace|remove|turn|change|colou?ri[sz]e|film|design|give\s+me|show\s+me)\b",
    re.I,
)


_RESTYLE_RE = re.compile(
    r"\b(?:in\s+the\s+style\s+of|look(?:s|ing)?\s+like\s+(?:a|an)?|restyle|re-style|style\s+transfer|"
    r"(?:into|as)\s+(?:a|an)?\s*(?:[\w-]+\s+)?(?:watercolou?r|oil\s+painting|painting|cartoon|anime|comic|pixel\s+art|"
    r"claymation|sketch|pencil\s+drawing|illustration|van\s+gogh|ghibli|cyberpunk|lego))\b",
    re.I,
)


class RulesPlanner:
    """Deterministic planner: ``plan(request) -> Plan``."""

    name = "rules"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RulesPlanner:
        """The rules need no settings and no weights."""
        return cls()

    def plan(self, request: Request) -> Plan:
        from unison_agent.core.extend import extension_plan

        extended = extension_plan(request, self.name)  # "extend ###clip### by 3 seconds": not a planner task
        if extended is not None:
            return extended
        task, roles, control = self._task_and_roles(request)
        ex = explicit(request)
        fields: dict[str, Any] = {}
        if task.is_generation:
            fields["width"] = ex.width or DEFAULT_WIDTH
            fields["height"] = ex.height or DEFAULT_HEIGHT
            if task.output == "image":
                fields["num_frames"], fields["fps"] = 1, None
            else:
                fields["num_frames"], fields["fps"] = ex.num_frames or DEFAULT_VIDEO_FRAMES, DEFAULT_FPS
        if task is Task.image_to_video:
            frame_at = next(m.start for m, r in zip(request.mentions, roles, strict=True) if r == "frame")
            fields["frame_anchor"] = find_frame_anchor(request.text, near=frame_at) or "first"
        if task in (Task.image_control, Task.video_control):
            fields["control"] = control or "ready"
        if task in (Task.image_edit, Task.video_edit):
            fields["target"] = ex.target
        inputs = [InputRef(path=m.path, kind=m.kind, role=r) for m, r in zip(request.mentions, roles, strict=True)]
        return Plan(task=task, prompt=request.prompt, inputs=inputs, planner=self.name, **fields)

    # ------------------------------------------------------------------------------------------------------
    def _task_and_roles(self, request: Request) -> tuple[Task, list[str], str | None]:
        words, mentions = request.words, request.mentions
        images = [i for i, m in enumerate(mentions) if m.kind == "image"]
        videos = [i for i, m in enumerate(mentions) if m.kind == "video"]
        roles = ["context"] * len(mentions)

        animates = bool(_ANIMATE_RE.search(words))
        creates = bool(_CREATE_RE.search(words)) or animates
        edits = bool(_EDIT_RE.search(words))
        refers = bool(_REFERENCE_RE.search(words))
        wants_video = bool(_VIDEO_OUT_RE.search(words)) or find_num_frames(words) is not None or animates
        wants_image = bool(_IMAGE_OUT_RE.search(words))
        video_out = wants_video and not (wants_image and not (_explicit_video(words) or animates))
        # The words decide whether this is a control task; the pixels only decide, once the request is prepared,
        # whether the control input is used as given or goes through an annotator (prepare.settle_control).
        control = find_control(words)
        guided = bool(_STYLE_OF_SOURCE_RE.search(words))
        if control is None and guided:
            control = "ready"  # "follow the structure of ..." names no kind: the pixels settle it when prepared
        restyles = bool(mentions) and (bool(videos) or not video_out)
        if control is None and restyles and _RESTYLE_RE.search(words) and find_target(words) is None:
            control = "depth"  # restyle the whole frame, keep its structure
            guided = True
        if control is None and videos and not (edits or refers or animates or find_target(words)):
            # words that name no task at all ("a video of a knight from ###v.mp4###"): a video that unmistakably
            # is a control map (a skeleton, edges, depth) is followed, not edited
            if any(_is_control_map(mentions[i]) for i in videos):
                control = "ready"
        question = bool(_QUESTION_RE.search(words)) and not _POLITE_REQUEST_RE.search(words)
        asks = question and (
            bool(re.match(r"\s*(?:how|why|what|who|where|when|which)\b", words, re.I)) or not (creates or edits)
        )
        asks = asks or bool(_UNDERSTAND_VERB_RE.search(words)) and not (creates or edits)
        anchored = bool(images) and find_frame_anchor(words) is not None
        generation_intent = creates or edits or guided or anchored or (control is not None and bool(mentions))
        if not generation_intent and not mentions:
            generation_intent = (wants_video or wants_image) and not asks

        if asks or not generation_intent:
            if videos:
                return Task.video_understanding, roles, control
            if images:
                return Task.image_understanding, roles, control
            return Task.text_understanding, roles, control

        if not mentions:
            return (Task.text_to_video if video_out else Task.text_to_image), roles, control

        if videos:
            src = videos[0]
            if control and (guided or control == "ready" or not edits):
                roles[src] = "control"
                return (Task.image_control if wants_image and not wants_video else Task.video_control), roles, control
            mask_idx, _ = mask_mentions(request.text, mentions)
            if mask_idx is not None and mask_idx != src:
                roles[mask_idx] = "mask"
            roles[src] = "source"
            return Task.video_edit, roles, control

        # images only
        mask_idx, _ = mask_mentions(request.text, mentions)
        if mask_idx is not None and len(images) >= 2:
            src = next(i for i in images if i != mask_idx)
            roles[src], roles[mask_idx] = "source", "mask"
            return Task.image_edit, roles, control
        first = images[0]
        if video_out:
            if control and (guided or control == "ready"):
                roles[first] = "control"
                return Task.video_control, roles, control
            if refers and (not animates or _SUBJECT_FROM_RE.search(words)) and not find_frame_anchor(words):
                for i in images:
                    roles[i] = "reference"
                return Task.video_reference, roles, control
            roles[first] = "frame"
            return Task.image_to_video, roles, control
        if control and (guided or control == "ready" or not edits):
            roles[first] = "control"
            return Task.image_control, roles, control
        if edits and not _creates_new_scene(words):
            roles[first] = "source"
            return Task.image_edit, roles, control
        for i in images:
            roles[i] = "reference"
        return Task.image_reference, roles, control


def _explicit_video(words: str) -> bool:
    return bool(re.search(r"\b(?:video|clip|animation|animate|movie|footage|gif)\b", words, re.I))


def _creates_new_scene(words: str) -> bool:
    """'make a picture of this dog on a beach' creates; 'make the dog white' edits."""
    return bool(
        re.search(
            r"\b(?:generate|create|draw|render|produce|design|illustrate|imagine)\b|\bmake\s+(?:a|an|me\s+a)\s+"
            r"(?:new\s+)?(?:picture|image|photo|illustration|drawing|painting|poster|portrait)\b",
            words,
            re.I,
        )
    ) and not re.search(r"\b(?:replace|remove|erase|delete|inpaint|recolou?r)\b", words, re.I)


def explicit(request: Request) -> Explicit:
    """Everything the user stated explicitly (read once, when the request was parsed: ``request.explicit``)."""
    return request.explicit


def explicit_values(request: Request) -> dict[str, Any]:
    """The user's explicit values as a dict (only keys the user stated): width, height, num_frames,
    frame_anchor, control, target, mask_index — for model planners to let them win."""
    return request.explicit.as_dict()


def _is_control_map(mention) -> bool:
    """Whether a checked, existing mentioned video unmistakably is a control map by its pixels (a skeleton, edges,
    depth). Used only when the words name no task; a grey clip may as well be black-and-white footage and a flow
    picture smooth colourful footage, so neither counts here."""
    if mention.info is None or mention.is_mask:
        return False
    from unison_agent.media.control_maps import classify_file

    return classify_file(mention.path).kind in ("pose", "edges", "depth")
