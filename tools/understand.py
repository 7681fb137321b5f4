"""Understanding: answer about text, one or several images, and videos (as video), across turns, streaming.

``understand(plan, settings, history=..., on_token=...)`` builds a chat from the earlier turns and the current
request. Every attached file is used: images through the image processor (its own pixel cap, the published
12,845,056 for Qwen2.5-VL, unless ``settings.image_max_pixels`` lowers it), videos as temporal input (frames
sampled at ``settings.video_fps``, at most ``settings.video_max_frames``, each frame capped at
``settings.video_max_pixels``, with video metadata so the temporal positions use the real sampling rate).
Media go where their ``<IMGPAD>``/``<VIDPAD>`` stood in the prompt. Tokens stream to ``on_token`` as they are decoded.

The model is the one the planner uses (``load_planner(settings)``): a merged planner as in the reference,
or the base model (with the LoRA switched off when it is loaded as an adapter), so only one Qwen sits in
memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.contract.errors import MediaError
from unison_agent.contract.mentions import planning_prompt
from unison_agent.contract.plan import Plan
from unison_agent.contract.tokens import IMGPAD, VIDPAD, neutralize
from unison_agent.core.progress import stage
from unison_agent.media.files import MediaLimits, kind_of, probe_video, read_image, read_video_frames

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
    from unison_agent.models.qwen_loader import LoadedPlanner

UNDERSTANDING_MODEL = "Qwen2.5-VL"
_PAD_RE = re.compile(f"({re.escape(IMGPAD)}|{re.escape(VIDPAD)})")


@dataclass
class Media:
    """Decoded media for one chat, in the order their placeholders appear."""

    images: list[np.ndarray] = field(default_factory=list)
    videos: list[np.ndarray] = field(default_factory=list)
    video_metadata: list[Any] = field(default_factory=list)


def _content(text: str, paths: list[str]) -> list[dict[str, Any]]:
    """Chat content: media placed where their pad tokens stand (in order); otherwise media first, then text."""
    kinds = [kind_of(p) for p in paths]
    pads = _PAD_RE.findall(text)
    if pads and [IMGPAD if k == "image" else VIDPAD for k in kinds] == pads:
        out: list[dict[str, Any]] = []
        parts = _PAD_RE.split(text)
        media = iter(zip(paths, kinds, strict=True))
        for part in parts:
            if part in (IMGPAD, VIDPAD):
                path, kind = next(media)
                out.append({"type": kind, kind: path})
            elif part:
                out.append({"type": "text", "text": part})
        return out
    text = _PAD_RE.sub("", text).strip()
    return [{"type": k, k: p} for p, k in zip(paths, kinds, strict=True)] + [{"type": "text", "text": text}]


def build_messages(
    plan: Plan, history: list[dict] | None = None, system_prompt: str | None = None
) -> list[dict[str, Any]]:
    """Earlier turns ({"role", "content", "media"}), then the current request with all its files.

    No system message unless ``system_prompt`` is given: Qwen's chat template then adds its own default ("You are
    a helpful assistant."), as the reference's understanding calls do. Earlier turns' text is neutralised like the
    current turn's (a token typed in an old message stays text) and their mentions become pads.
    """
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    for i, turn in enumerate(history or []):
        role = turn.get("role")
        if role not in ("user", "assistant"):
            raise ValueError(f"history[{i}].role must be 'user' or 'assistant', got {role!r}")
        media = [str(p) for p in turn.get("media") or []]
        text = str(turn.get("content", ""))
        if role == "assistant" or not media:
            messages.append({"role": role, "content": [{"type": "text", "text": neutralize(text)}]})
        else:
            messages.append({"role": role, "content": _content(planning_prompt(text), media)})
    messages.append({"role": "user", "content": _content(plan.prompt, [i.path for i in plan.inputs])})
    return messages


MAX_ASPECT_RATIO = 200
"""The Qwen2-VL image and video processors refuse a picture whose long side is more than 200 times its short side
(``smart_resize``: "absolute aspect ratio must be smaller than 200")."""


def refusal(path: str, settings: Settings) -> str | None:
    """Why the understanding model's processor would refuse the file at ``path`` (from its header or container,
    nothing decoded), or None. Checked up front, so such a file fails its own turn with this message."""
    from PIL import Image

    if kind_of(path) == "image":
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (OSError, ValueError) as exc:
            return f"{path}: not a readable image ({exc})"
    else:
        try:
            meta = probe_video(path, MediaLimits.from_settings(settings))
        except MediaError as exc:
            return str(exc)
        width, height = int(meta["width"]), int(meta["height"])
    if min(width, height) < 1:
        return f"{path}: the picture is {width}x{height}, empty"
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        return (
            f"{path}: the picture is {width}x{height} (aspect ratio {ratio:.0f}:1); the understanding model's "
            f"processor takes at most {MAX_ASPECT_RATIO}:1. Crop or pad it, then ask again"
        )
    return None


def usable_history(history: list[dict] | None, settings: Settings) -> list[dict]:
    """The earlier turns with the files the processor would refuse left out (their text stays), so one bad file
    never stops later turns of its thread."""
    out = []
    for turn in history or []:
        media = [p for p in turn.get("media") or [] if refusal(str(p), settings) is None]
        out.append({**turn, "media": media})
    return out


def sample_video(path: str, settings: Settings) -> tuple[np.ndarray, Any]:
    """Frames sampled uniformly at ``video_fps`` (2..video_max_frames, an even count) and their metadata.

    The container is probed for its length and frame rate; only the sampled frames are kept in memory."""
    from transformers.video_utils import VideoMetadata

    limits = MediaLimits.from_settings(settings)
    meta = probe_video(path, limits)
    total = int(meta["frames"])
    if total == 0:
        raise MediaError(f"{path}: the video has no frames")
    fps = float(meta["fps"]) if meta["fps"] and meta["fps"] > 0 else 24.0
    n = round(total / fps * settings.video_fps)
    n = max(2, min(n, settings.video_max_frames))
    n -= n % 2  # the vision tower packs frames in pairs
    indices = np.linspace(0, total - 1, n).round().astype(int).tolist()
    metadata = VideoMetadata(
        total_num_frames=total,
        fps=fps,
        width=int(meta["width"]),
        height=int(meta["height"]),
        duration=total / fps,
        frames_indices=indices,
    )
    return read_video_frames(path, indices, limits=limits), metadata


def collect_media(messages: list[dict[str, Any]], settings: Settings) -> Media:
    """Read every image and video the messages name, in placeholder order."""
    media = Media()
    for message in messages:
        for item in message["content"]:
            if item["type"] == "image":
                image = read_image(item["image"], MediaLimits.from_settings(settings))
                media.images.append(np.array(image))  # a writable copy for torch
            elif item["type"] == "video":
                frames, metadata = sample_video(item["video"], settings)
                media.videos.append(frames)
                media.video_metadata.append(metadata)
    return media


def prepare_inputs(planner: LoadedPlanner, messages: list[dict[str, Any]], settings: Settings):
    """Processor outputs (token ids with image/video placeholders expanded, pixel values, grids) on the device."""
    processor = planner.processor
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    media = collect_media(messages, settings)
    kwargs: dict[str, Any] = {}
    if media.images:
        low = int(processor.image_processor.size.get("shortest_edge", 56 * 56))
        cap = image_pixel_cap(processor, settings)
        kwargs["images"] = media.images
        kwargs["images_kwargs"] = {"size": {"shortest_edge": min(low, cap), "longest_edge": cap}}
    if media.videos:
        low = int(processor.video_processor.size.get("shortest_edge", 56 * 56))
        kwargs["videos"] = media.videos
        kwargs["video_metadata"] = media.video_metadata
        kwargs["videos_kwargs"] = {
            "size": {"shortest_edge": min(low, settings.video_max_pixels), "longest_edge": settings.video_max_pixels},
            "do_sample_frames": False,
            # qwen-vl-utils' behaviour (the reference): each frame also gets an even share of a total-video budget
            "cap_pixels_per_frame": True,
        }
    return processor(text=[text], return_tensors="pt", **kwargs).to(planner.device)


def image_pixel_cap(processor, settings: Settings) -> int:
    """Pixels per image: the processor's own ``longest_edge`` (the published Qwen2.5-VL processor: 12,845,056),
    lowered by ``settings.image_max_pixels`` when that is set and smaller."""
    own = int(processor.image_processor.size.get("longest_edge") or 12_845_056)
    return own if settings.image_max_pixels is None else min(own, int(settings.image_max_pixels))


def fitted_inputs(planner: LoadedPlanner, plan: Plan, history: list[dict], settings: Settings):
    """The processor outputs for the request after as much of ``history`` as fits ``settings.max_input_tokens``
    (the oldest turns are left out first); the request alone over the cap is refused (a UnisonError)."""
    from unison_agent.contract.tokens import check_input_tokens

    while True:
        messages = build_messages(plan, history, settings.system_prompt)
        inputs = prepare_inputs(planner, messages, settings)
        n = int(inputs["input_ids"].shape[1])
        if n <= settings.max_input_tokens or not history:
            check_input_tokens(n, settings.max_input_tokens, "understanding")
            return inputs
        history = history[max(1, len(history) // 2) :]


def _streamer(tokenizer, on_token: Callable[[str], None]):
    from transformers import TextStreamer

    class _CallbackStreamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                on_token(text)

    return _CallbackStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def understand(
    plan: Plan,
    settings: Settings,
    *,
    history: list[dict] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> str:
    """Answer the request in ``plan`` (all its files), after the ``history`` turns; stream to ``on_token``."""
    import torch

    from unison_agent.models.qwen_loader import load_planner

    for i in plan.inputs:  # the processor's own limits, before any model is loaded
        reason = refusal(i.path, settings)
        if reason is not None:
            raise MediaError(reason)
    planner = load_planner(settings)  # a first use reports a ``loading`` stage
    stage("understanding", f"answering with {UNDERSTANDING_MODEL}")
    inputs = fitted_inputs(planner, plan, usable_history(history, settings), settings)
    streamer = _streamer(planner.tokenizer, on_token) if on_token is not None else None
    model = planner.model  # the planning LoRA stays on: the reference answers with the merged model
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=settings.max_new_tokens, do_sample=False, streamer=streamer)
    new = out[0, inputs["input_ids"].shape[1] :]
    return planner.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False).strip()


YES_WORDS = ("Yes", "yes", " Yes", " yes", "YES")
NO_WORDS = ("No", "no", " No", " no", "NO")


def yes_probability(question: str, paths: list[str], settings: Settings) -> float:
    """P("yes") for a yes/no ``question`` about the files at ``paths``: the model's next-token probabilities of the
    yes-words against the no-words (one forward pass, no sampling), in [0, 1]."""
    import torch

    from unison_agent.models.qwen_loader import load_planner

    planner = load_planner(settings)
    pads = "".join(IMGPAD if kind_of(p) == "image" else VIDPAD for p in paths)
    text = f"{pads}{neutralize(question)} Answer yes or no."
    for p in paths:
        reason = refusal(str(p), settings)
        if reason is not None:
            raise MediaError(reason)
    messages = [{"role": "user", "content": _content(text, list(paths))}]
    inputs = prepare_inputs(planner, messages, settings)
    from unison_agent.contract.tokens import check_input_tokens

    check_input_tokens(int(inputs["input_ids"].shape[1]), settings.max_input_tokens, "verification")
    with torch.no_grad():
        logits = planner.model(**inputs).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1)
    vocab = planner.tokenizer.get_vocab()

    def mass(words: tuple[str, ...]) -> float:
        ids = {planner.tokenizer.encode(w, add_special_tokens=False)[0] for w in words if w.strip()}
        ids |= {vocab[w] for w in words if w in vocab}
        return float(sum(probs[i] for i in ids if i < probs.shape[0]))

    yes, no = mass(YES_WORDS), mass(NO_WORDS)
    return yes / (yes + no) if yes + no > 0 else 0.5
