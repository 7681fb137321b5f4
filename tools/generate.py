"""Stage two: generate the image or video a plan asks for with Wan2.1-VACE, conditioned the Unison way.

``generate(plan, settings, cond_tokens=..., out_dir=...)`` prepares the VACE inputs from the plan's files
(:mod:`unison_agent.vace_inputs`), encodes the prompt with the four projector tokens appended and pads it to
2048 positions (:mod:`unison_agent.conditioning`), samples with flow UniPC (shift, steps, guidance and
conditioning scale from the settings), and writes a PNG (images) or an H.264 MP4 (videos) plus a JSON
sidecar, atomically, into ``out_dir``. The seed is always recorded; the same seed gives the same output.

Annotators (``unison_agent.tools.annotate``) are called only for a control plan whose ``control`` is not
"ready" and for an edit without a mask file.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.errors import PlanError, UnisonError
from unison_agent.media import (
    MediaLimits,
    output_unit,
    probe_video,
    read_image,
    read_mask,
    read_video,
    save_image,
    save_video,
)
from unison_agent.plan import CONTROL_TASKS, EDIT_TASKS, REFERENCE_TASKS, Plan, Task
from unison_agent.vace_inputs import (
    VaceInputs,
    anchor_clip,
    as_mask,
    as_video,
    check_budget,
    cover_resize,
    fit_on_canvas,
    fit_size,
    prepare_clip,
    prepare_mask,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.settings import Settings

NO_PROJECTOR_NOTE = "no projector: generated from the text encoding alone"


@dataclass
class GenerationResult:
    """What one generation produced."""

    outputs: list[Path]
    sidecars: list[Path]
    seed: int
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    width: int = 0
    height: int = 0
    num_frames: int = 0


# ----------------------------------------------------------------------------------------------------------
# inputs


def _load(
    plan: Plan, role: str, frames_override: dict | None, limits: MediaLimits, seconds: float | None = None
) -> tuple[Any, float | None] | None:
    """(array, fps) for the first input with ``role``: from ``frames_override[role]`` if given, else its file.

    ``seconds``: only the start of a video that long is decoded (what the plan's frames at its fps use)."""
    if frames_override and role in frames_override and frames_override[role] is not None:
        return frames_override[role], frames_override.get("fps")
    ref = plan.first(role)
    if ref is None:
        return None
    if role == "mask":
        return read_mask(ref.path, limits=limits), None
    if ref.kind == "video":
        max_frames = None
        if seconds is not None:
            fps = float(probe_video(ref.path, limits)["fps"])
            max_frames = math.ceil(seconds * fps) + 2  # a frame of margin each side of the last one sampled
        return read_video(ref.path, max_frames, limits=limits)
    return read_image(ref.path, limits), None


def prepare_inputs(plan: Plan, settings: Settings, frames_override: dict | None = None) -> VaceInputs:
    """The VACE inputs for ``plan``: files read (or taken from ``frames_override``) and prepared as the method does.

    ``frames_override`` maps a role ("source", "mask", "frame", "control", "reference") to arrays used instead
    of the plan's files: frames (H, W, 3) / (T, H, W, 3) uint8, masks (H, W) / (T, H, W) 0/255, and for
    "reference" a list of images; an optional "fps" gives the frame rate of overridden videos.
    """
    task = plan.task
    w, h, n = int(plan.width), int(plan.height), int(plan.num_frames)
    fps = float(plan.fps or 16)
    limits = MediaLimits.from_settings(settings)

    if task in (Task.text_to_image, Task.text_to_video):
        return VaceInputs(w, h, n)

    if task in REFERENCE_TASKS:
        if frames_override and frames_override.get("reference") is not None:
            refs = frames_override["reference"]
            refs = [refs] if isinstance(refs, np.ndarray) and refs.ndim == 3 else list(refs)
        else:
            refs = [read_image(r.path, limits) for r in plan.inputs_with_role("reference")]
        return VaceInputs(w, h, n, references=[fit_on_canvas(as_video(r, "reference")[0], w, h) for r in refs])

    if task is Task.image_to_video:
        image, _ = _load(plan, "frame", frames_override, limits, seconds=0.0)
        image = as_video(image, "frame")[:1]
        fw, fh, notes = fit_size(image.shape[2], image.shape[1], w, h)
        video, mask = anchor_clip(cover_resize(image, fw, fh)[0], n, plan.frame_anchor or "first")
        return VaceInputs(fw, fh, n, video=video, mask=mask, notes=notes)

    if task in EDIT_TASKS:
        loaded = _load(plan, "source", frames_override, limits)  # whole: a mask video is aligned to its length
        source, src_fps = loaded if loaded else (None, None)
        source = as_video(source, "source")
        video, idx, fw, fh, notes = prepare_clip(source, src_fps, w, h, n, fps)
        mask_in = _load(plan, "mask", frames_override, limits)
        if mask_in is not None:
            mask, more = prepare_mask(mask_in[0], source.shape[:3], idx, fw, fh)
            notes += more
        else:
            from unison_agent.tools.annotate import edit_mask

            made, note = edit_mask(video, plan.target, settings)
            mask = _fit_mask(as_mask(made, "annotator mask"), video.shape[0], fw, fh)
            notes.append(f"no mask given: {note}" if note else "no mask given: made one with the annotators")
        return VaceInputs(fw, fh, video.shape[0], video=video, mask=mask, notes=notes)

    if task in CONTROL_TASKS:
        control, src_fps = _load(plan, "control", frames_override, limits, seconds=n / fps)
        video, _, fw, fh, notes = prepare_clip(as_video(control, "control"), src_fps, w, h, n, fps)
        if plan.control != "ready":
            from unison_agent.tools.annotate import control_frames

            made = as_video(control_frames(video, str(plan.control), settings), "annotator output")
            if made.shape[0] != video.shape[0]:
                made = made[np.linspace(0, made.shape[0] - 1, video.shape[0]).round().astype(int)]
            video = cover_resize(made, fw, fh)
            notes.append(f"control signal made by the {plan.control} annotator")
        return VaceInputs(fw, fh, video.shape[0], video=video, notes=notes)

    raise PlanError(f"{task.value} is not a generation task; stage two generates images and videos only")


def _fit_mask(mask: np.ndarray, n: int, w: int, h: int) -> np.ndarray:
    if mask.shape[0] != n:
        mask = mask[np.linspace(0, mask.shape[0] - 1, n).round().astype(int)]
    return np.where(cover_resize(mask, w, h, nearest=True) >= 128, 255, 0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# generation


def _configure(pipe, settings: Settings) -> None:
    """Per-call sampler settings on the cached pipeline: flow UniPC with the shift, and VAE tiling."""
    from diffusers import UniPCMultistepScheduler

    pipe.scheduler = UniPCMultistepScheduler.from_config(
        pipe.scheduler.config,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=float(settings.shift),
    )
    if settings.vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()


def _output_paths(out_dir: Path, task: Task, seed: int, suffix: str) -> tuple[Path, Path]:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{task.value}-{stamp}-{seed}"
    path = out_dir / f"{base}{suffix}"
    k = 1
    while path.exists() or path.with_suffix(".json").exists():
        k += 1
        path = out_dir / f"{base}-{k}{suffix}"
    return path, path.with_suffix(".json")


def _check_plan(plan: Plan) -> Plan:
    if not isinstance(plan, Plan):
        raise PlanError(f"generate needs a Plan, got {type(plan).__name__}")
    plan = Plan.model_validate(plan.model_dump())  # re-validate: a model_construct'ed plan is checked too
    if not plan.task.is_generation:
        raise PlanError(f"{plan.task.value} is an understanding task; stage two only generates images and videos")
    return plan


def generate(
    plan: Plan,
    settings: Settings,
    *,
    cond_tokens: torch.Tensor | None,
    out_dir: Path,
    seed: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    frames_override: dict | None = None,
) -> GenerationResult:
    """Generate what ``plan`` asks for; write the PNG/MP4 and its JSON sidecar into ``out_dir``.

    ``cond_tokens`` are the projector's 4 tokens (1, 4, text_dim), or None to generate from the text alone.
    ``seed``: None takes ``settings.seed``, else a random one; it is always recorded. ``on_step(i, total)`` is
    called after each denoising step. ``frames_override``: see :func:`prepare_inputs`.
    """
    import torch

    from unison_agent.conditioning import CONTEXT_LEN, build_negative_embeds, build_prompt_embeds
    from unison_agent.models import pick_device
    from unison_agent.vace_loader import effective_offload, load_vace

    t0 = time.perf_counter()
    plan = _check_plan(plan)
    if settings.steps < 1:
        raise UnisonError(f"steps must be at least 1, got {settings.steps}")
    seed = seed if seed is not None else settings.seed
    seed = int(seed) if seed is not None else secrets.randbelow(2**31)
    if not 0 <= seed < 2**63:
        raise UnisonError(f"seed must be between 0 and 2**63-1, got {seed}")
    notes: list[str] = []
    timings: dict[str, float] = {}

    inputs = prepare_inputs(plan, settings, frames_override)
    inputs.check()
    check_budget(inputs.width, inputs.height, inputs.num_frames)
    notes += inputs.notes
    t1 = time.perf_counter()
    timings["prepare_s"] = t1 - t0

    pipe = load_vace(settings)
    device = pick_device(settings)
    if settings.offload != "none" and effective_offload(settings, device) == "none":
        notes.append(f"offload={settings.offload} ignored on the {device.type} device (nothing to offload to)")
    _configure(pipe, settings)
    t2 = time.perf_counter()
    timings["load_s"] = t2 - t1

    if cond_tokens is None:
        notes.append(NO_PROJECTOR_NOTE)
    prompt_embeds = build_prompt_embeds(pipe, plan.prompt, cond_tokens, max_len=CONTEXT_LEN)
    negative_embeds = build_negative_embeds(pipe, settings.negative_prompt, max_len=CONTEXT_LEN)
    t3 = time.perf_counter()
    timings["encode_s"] = t3 - t2

    step_times: list[float] = []
    last = [time.perf_counter()]

    def _callback(_pipe, i: int, _t, _kwargs: dict) -> dict:
        now = time.perf_counter()
        step_times.append(now - last[0])
        last[0] = now
        if on_step is not None:
            on_step(i + 1, settings.steps)
        return {}

    generator = torch.Generator(device="cpu").manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    last[0] = time.perf_counter()
    try:
        result = pipe(
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_embeds,
            conditioning_scale=float(settings.context_scale),
            num_inference_steps=int(settings.steps),
            guidance_scale=float(settings.guidance),
            generator=generator,
            output_type="np",
            callback_on_step_end=_callback,
            **inputs.pipeline_kwargs(),
        )
    except torch.OutOfMemoryError:
        raise UnisonError(
            f"out of GPU memory at {inputs.width}x{inputs.height}x{inputs.num_frames}; try --offload model "
            "(or sequential), --vae-tiling, or a smaller size / fewer frames"
        ) from None
    t4 = time.perf_counter()
    timings["denoise_s"] = float(sum(step_times))
    timings["decode_s"] = max(0.0, (t4 - t3) - timings["denoise_s"])
    timings["per_step_s"] = float(np.mean(step_times)) if step_times else 0.0
    if device.type == "cuda":
        timings["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30

    frames = np.asarray(result.frames[0])
    frames = np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    is_image = plan.task.output == "image"
    path, _ = _output_paths(out_dir, plan.task, seed, ".png" if is_image else ".mp4")
    with output_unit(path) as unit:  # the output, then its sidecar: one unit
        if is_image:
            save_image(unit.tmp, frames[0])
        else:
            save_video(unit.tmp, frames, fps=plan.fps or 16)
        t5 = time.perf_counter()
        timings["write_s"] = t5 - t4
        timings["total_s"] = t5 - t0
        unit.record = _record(plan, settings, seed, inputs, frames, cond_tokens, device, notes, timings)
    return GenerationResult(
        outputs=[unit.path],
        sidecars=[unit.sidecar],
        seed=seed,
        notes=notes,
        timings=timings,
        width=inputs.width,
        height=inputs.height,
        num_frames=int(frames.shape[0]),
    )


def _record(plan, settings, seed, inputs, frames, cond_tokens, device, notes, timings) -> dict[str, Any]:
    """The sidecar: everything needed to reproduce the output."""
    from unison_agent.conditioning import CONTEXT_LEN
    from unison_agent.models import pick_dtype
    from unison_agent.vace_loader import effective_offload

    is_image = plan.task.output == "image"
    return {
        "plan": plan.to_json(),
        "seed": seed,
        "steps": settings.steps,
        "guidance": settings.guidance,
        "shift": settings.shift,
        "context_scale": settings.context_scale,
        "negative_prompt": settings.negative_prompt or "wan default (prompts/wan_negative.txt)",
        "width": inputs.width,
        "height": inputs.height,
        "num_frames": int(frames.shape[0]),
        "fps": plan.fps if not is_image else None,
        "context_len": CONTEXT_LEN,
        "projector_tokens": None if cond_tokens is None else list(cond_tokens.shape),
        "models": {
            "vace": str(settings.checkpoint("vace")),
            "projector": str(settings.projector_path()) if cond_tokens is not None else None,
        },
        "device": str(device),
        "dtype": str(pick_dtype(settings, device)).removeprefix("torch."),
        "offload": effective_offload(settings, device),
        "vae_tiling": settings.vae_tiling,
        "notes": notes,
        "timings": timings,
    }
