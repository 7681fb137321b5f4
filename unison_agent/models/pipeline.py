"""Stage two as one object: :class:`UnisonPipeline` turns a plan and its prepared inputs into frames.

Built once per settings key from injected components, as diffusers pipelines are:

- ``vace``: a ``diffusers.WanVACEPipeline`` whose scheduler was set at construction (flow UniPC with the
  method's shift; :func:`flow_scheduler`), never changed per call;
- ``encode``: the stage-one side, ``prompt -> (1, 4, text_dim)`` projector tokens or ``None`` (planner encoder
  + projector; :func:`unison_agent.models.projector.projector_tokens` for the real models).

``__call__(plan, inputs, seed=..., on_step=...)`` encodes the prompt the Unison way (umT5 trimmed to its real
length + the four projector tokens, zero-padded to 2048), samples, and returns a :class:`Generation`
(uint8 frames plus what a sidecar records), reporting the ``denoising`` and ``decoding`` progress stages
(:mod:`unison_agent.core.progress`; the VAE decodes inside diffusers' call, right after the last step). It writes
nothing: :func:`write_generation` writes the PNG/MP4 and its sidecar, atomically, sidecar last. Masks and control
maps are never made here: the graph's annotate step prepares them and :func:`unison_agent.models.vace_inputs.prepare_inputs`
reads them.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.contract.errors import UnisonError
from unison_agent.contract.plan import Plan
from unison_agent.core.progress import restart, stage
from unison_agent.media.files import output_unit, save_image, save_video, write_json
from unison_agent.models.residency import Residency, residency_for, resident
from unison_agent.models.vace_inputs import VaceInputs, check_budget

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

NO_PROJECTOR_NOTE = "no projector: generated from the text encoding alone"
AUTO: Any = object()
"""``cond_tokens=AUTO``: compute the projector tokens with the pipeline's ``encode``."""


@dataclass(frozen=True)
class Sampler:
    """The sampling values one call uses (the method's defaults come from the settings), checked once, when the
    value is made: a Sampler that exists is a valid one. The flow shift is the scheduler's, set when the pipeline
    is built; it is checked here with the rest."""

    steps: int = 50
    guidance: float = 5.0
    context_scale: float = 1.0
    negative_prompt: str | None = None
    shift: float = 5.0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise UnisonError(f"steps must be at least 1, got {self.steps}")
        if not math.isfinite(self.guidance) or self.guidance < 0:
            raise UnisonError(f"guidance must be a number of at least 0 (the method uses 5.0), got {self.guidance}")
        if not math.isfinite(self.shift) or self.shift <= 0:
            raise UnisonError(f"shift must be a number above 0 (the method uses 5.0), got {self.shift}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Sampler:
        return cls(
            int(settings.steps),
            float(settings.guidance),
            float(settings.context_scale),
            settings.negative_prompt,
            float(settings.shift),
        )


@dataclass
class Generation:
    """What one call produced: frames (T, H, W, 3) uint8 and what the sidecar records about it."""

    frames: np.ndarray
    seed: int
    sampler: Sampler
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    projector_tokens: list[int] | None = None
    record: dict[str, Any] = field(default_factory=dict)
    float_frames: np.ndarray | None = None
    """The frames as the pipeline returned them (float32 in [0, 1]), only when asked for (``keep_float``)."""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


def flow_scheduler(config: Any, shift: float):
    """Wan's sampler: UniPC over flow sigmas with ``shift`` (what the reference and diffusers' Wan examples use)."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler.from_config(
        config, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=float(shift)
    )


def pick_seed(seed: int | None) -> int:
    """``seed`` checked, or a fresh random one (always recorded, so every output can be made again)."""
    seed = int(seed) if seed is not None else secrets.randbelow(2**31)
    if not 0 <= seed < 2**63:
        raise UnisonError(f"seed must be between 0 and 2**63-1, got {seed}")
    return seed


class UnisonPipeline:
    """Plan + prepared inputs -> frames, with the Unison conditioning. See the module docstring."""

    def __init__(
        self,
        vace,
        *,
        encode: Callable[[str], torch.Tensor | None] | None = None,
        sampler: Sampler | None = None,
        vae_tiling: bool = False,
        fast_threshold: float | None = None,
        residency: Residency | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        self.vace = vace
        self.encode = encode or (lambda _prompt: None)
        self.sampler = sampler or Sampler()
        self.vae_tiling = bool(vae_tiling)
        self.fast_threshold = fast_threshold
        """Step caching: diffusers' first-block cache at this threshold while sampling (None: off)."""
        self.residency = residency
        """Keeps the text encoder on the GPU only while it encodes, the transformer and VAE while they run."""
        self.record = dict(record or {})
        self._negative: dict[str | None, Any] = {}

    # -- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings) -> UnisonPipeline:
        """The pipeline for ``settings``: Wan2.1-VACE loaded once per process (:func:`load_vace`), a flow UniPC
        scheduler with ``settings.shift``, and the projector of ``settings`` fed by the planner's encoder."""
        from unison_agent.models.registry import pick_attention, pick_device, pick_dtype, registry
        from unison_agent.models.vace_loader import effective_offload, load_vace, vace_key

        key = (
            "unison-pipeline",
            *vace_key(settings),
            float(settings.shift),
            bool(settings.vae_tiling),
            str(settings.projector_path()),
            settings.compile,
            settings.fast,
            settings.fast_threshold,
            settings.vram_budget,
        )

        def build() -> UnisonPipeline:
            from unison_agent.models.projector import projector_tokens

            base = load_vace(settings)
            vace = type(base)(
                **{**base.components, "scheduler": flow_scheduler(base.scheduler.config, settings.shift)},
                **_extra_config(base),
            )
            vace.set_progress_bar_config(disable=True)  # a new pipeline object: its steps go out as events instead
            device = pick_device(settings)
            attention = pick_attention(settings, device)
            if attention == "flash_attention_2":  # flash-attn installed, on CUDA: diffusers' flash backend
                vace.transformer.set_attention_backend("flash")
            if settings.compile:  # regional: each repeated block compiled once, reused 30x (diffusers' recipe)
                vace.transformer.compile_repeated_blocks(fullgraph=True)
            residency = residency_for(settings, device)
            if residency is not None:
                for name in ("text_encoder", "transformer", "vae"):
                    residency.add(name, getattr(vace, name), where=str(device))
            record = {
                "models": {"vace": str(settings.checkpoint("vace")), "projector": str(settings.projector_path())},
                "device": str(device),
                "dtype": str(pick_dtype(settings, device)).removeprefix("torch."),
                "offload": effective_offload(settings, device),
                "shift": float(settings.shift),
                "compile": bool(settings.compile),
                "attention": "flash-attn" if attention == "flash_attention_2" else "sdpa",
                "fast": {"cache": "first_block", "threshold": settings.fast_threshold} if settings.fast else None,
                "vram_budget_gb": settings.vram_budget,
            }
            return cls(
                vace,
                encode=lambda prompt: projector_tokens(settings, prompt),
                vae_tiling=settings.vae_tiling,
                sampler=Sampler.from_settings(settings),
                record=record,
                residency=residency,
                fast_threshold=settings.fast_threshold if settings.fast else None,
            )

        return registry().get(key, build)

    # -- the call ----------------------------------------------------------------------------------------

    def __call__(
        self,
        plan: Plan,
        inputs: VaceInputs,
        *,
        seed: int | None = None,
        on_step: Callable[[int, int], None] | None = None,
        cond_tokens: Any = AUTO,
        sampler: Sampler | None = None,
        keep_float: bool = False,
    ) -> Generation:
        """Sample what ``plan`` asks for from ``inputs`` (see :func:`prepare_inputs`); nothing is written.

        ``cond_tokens``: the projector tokens (1, 4, text_dim), ``None`` for the text alone, or ``AUTO`` to run
        ``encode(plan.prompt)``. ``on_step(i, total)`` is called after each denoising step. ``keep_float``: also
        keep the unrounded frames (``Generation.float_frames``; the next video window's context).
        """
        import torch

        from unison_agent.models.conditioning import CONTEXT_LEN, TEXT_LEN, prompt_was_cut

        sampler = sampler or self.sampler
        seed = pick_seed(None) if seed is None else int(seed)  # a given seed was checked by its caller
        inputs.check()
        check_budget(inputs.width, inputs.height, inputs.num_frames)
        notes, timings = list(inputs.notes), {}
        t0 = time.perf_counter()
        if cond_tokens is AUTO:
            cond_tokens = self.encode(plan.prompt)
        if cond_tokens is None:
            notes.append(NO_PROJECTOR_NOTE)
        stage("denoising", "denoising")  # the umT5 encoding is the first part of it
        with resident(self.residency, "text_encoder"):  # on the GPU only while it encodes
            prompt_embeds = self._prompt_embeds(plan.prompt, cond_tokens)
            cut = prompt_was_cut(self.vace, plan.prompt)
            if cut:
                notes.append(cut)
            negative_embeds = self._negative_embeds(sampler.negative_prompt)
        t1 = time.perf_counter()
        timings["encode_s"] = t1 - t0

        step_times: list[float] = []
        last = [time.perf_counter()]

        def callback(pipe, i: int, _t, _kwargs: dict) -> dict:
            now = time.perf_counter()
            step_times.append(now - last[0])
            last[0] = now
            counted = getattr(pipe, "num_timesteps", None)  # the scheduler's own count
            total = counted if isinstance(counted, int) and counted > 0 else sampler.steps
            if on_step is not None:
                on_step(i + 1, total)
            if i + 1 == total:  # diffusers decodes with the VAE right after the last step's callback
                stage("decoding", "decoding with the VAE")
            return {}

        if self.vae_tiling:
            self.vace.vae.enable_tiling()
        else:
            self.vace.vae.disable_tiling()
        generator = torch.Generator(device="cpu").manual_seed(seed)
        restart("denoising")  # the steps' elapsed / remaining times count from here
        last[0] = time.perf_counter()
        try:
            with resident(self.residency, "transformer", "vae"), self._step_cache():
                device = getattr(self.vace, "_execution_device", torch.device("cpu"))
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                out = self.vace(
                    prompt_embeds=prompt_embeds,
                    negative_prompt_embeds=negative_embeds,
                    conditioning_scale=float(sampler.context_scale),
                    num_inference_steps=int(sampler.steps),
                    guidance_scale=float(sampler.guidance),
                    generator=generator,
                    output_type="np",
                    callback_on_step_end=callback,
                    **inputs.pipeline_kwargs(),
                )
        except torch.OutOfMemoryError:
            raise UnisonError(
                f"out of GPU memory at {inputs.width}x{inputs.height}x{inputs.num_frames}; try --offload model "
                "(or sequential), --vae-tiling, or a smaller size / fewer frames"
            ) from None
        t2 = time.perf_counter()
        timings["denoise_s"] = float(sum(step_times))
        timings["decode_s"] = max(0.0, (t2 - t1) - timings["denoise_s"])
        timings["per_step_s"] = float(np.mean(step_times)) if step_times else 0.0
        if device.type == "cuda":
            timings["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
        frames = np.clip(np.round(np.asarray(out.frames[0]) * 255.0), 0, 255).astype(np.uint8)
        float_frames = np.asarray(out.frames[0], dtype=np.float32) if keep_float else None
        tokens = None if cond_tokens is None else [int(s) for s in cond_tokens.shape]
        record = {**self.record, "context_len": CONTEXT_LEN, "text_len": TEXT_LEN, "vae_tiling": self.vae_tiling}
        if cond_tokens is None:
            record.setdefault("models", {})
            record["models"] = {**record["models"], "projector": None}
        return Generation(frames, seed, sampler, notes, list(inputs.warnings), timings, tokens, record, float_frames)

    def _prompt_embeds(self, prompt: str, cond_tokens: Any):
        """The Unison prompt embeddings; the last ones are reused for the same prompt and the same tokens object
        (the windows of one long video share one conditioning)."""
        from unison_agent.models.conditioning import CONTEXT_LEN, build_prompt_embeds

        last = getattr(self, "_last_embeds", None)
        if last is not None and last[0] == prompt and last[1] is cond_tokens:
            return last[2]
        embeds = build_prompt_embeds(self.vace, prompt, cond_tokens, max_len=CONTEXT_LEN)
        self._last_embeds = (prompt, cond_tokens, embeds)
        return embeds

    @contextmanager
    def _step_cache(self) -> Iterator[None]:
        """diffusers' first-block cache on the transformer for this call only (the transformer is shared)."""
        if self.fast_threshold is None:
            yield
            return
        from diffusers.hooks import FirstBlockCacheConfig

        self.vace.transformer.enable_cache(FirstBlockCacheConfig(threshold=float(self.fast_threshold)))
        try:
            yield
        finally:
            self.vace.transformer.disable_cache()

    def _negative_embeds(self, negative_prompt: str | None):
        from unison_agent.models.conditioning import CONTEXT_LEN, build_negative_embeds

        if negative_prompt not in self._negative:  # the same for every call with this prompt: encode it once
            self._negative[negative_prompt] = build_negative_embeds(self.vace, negative_prompt, max_len=CONTEXT_LEN)
        return self._negative[negative_prompt]


def _extra_config(pipe) -> dict[str, Any]:
    """Constructor arguments of a diffusers pipeline that are config values, not components."""
    import inspect

    params = inspect.signature(type(pipe).__init__).parameters
    return {k: v for k, v in pipe.config.items() if k in params and k not in pipe.components and not k.startswith("_")}


# ----------------------------------------------------------------------------------------------------------
# writing


@dataclass
class GenerationResult:
    """What a written generation left on disk, with what the graph reports."""

    outputs: list[Path]
    sidecars: list[Path]
    seed: int
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    width: int = 0
    height: int = 0
    num_frames: int = 0
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, made: Any) -> GenerationResult:
        """This type from any value with its fields (a ``Toolbox.generate`` may return its own kind)."""
        if isinstance(made, GenerationResult):
            return made
        return cls(
            [Path(p) for p in made.outputs],
            [Path(p) for p in made.sidecars],
            int(made.seed),
            [str(n) for n in made.notes],
            {k: float(v) for k, v in (made.timings or {}).items()},
            int(made.width),
            int(made.height),
            int(made.num_frames),
            [str(w) for w in getattr(made, "warnings", None) or []],
        )


def output_path(out_dir: Path, task_name: str, seed: int, suffix: str) -> Path:
    """A fresh ``<task>-<UTC stamp>-<seed>[-k]<suffix>`` in ``out_dir`` (neither it nor its sidecar exists)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{task_name}-{stamp}-{seed}"
    path = out_dir / f"{base}{suffix}"
    k = 1
    while path.exists() or path.with_suffix(".json").exists():
        k += 1
        path = out_dir / f"{base}-{k}{suffix}"
    return path


def write_generation(
    gen: Generation, plan: Plan, out_dir: Path, *, timings: dict[str, float] | None = None
) -> GenerationResult:
    """Write a generation as a PNG (image tasks) or an H.264 MP4 at the plan's fps, then its JSON sidecar.

    Both are written to temporary names and renamed, the sidecar last (:func:`unison_agent.media.files.output_unit`),
    so an output never lies without its record, and a failure leaves neither.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    is_image = plan.task.output == "image"
    path = output_path(out_dir, plan.task.value, gen.seed, ".png" if is_image else ".mp4")
    with output_unit(path) as unit:
        if is_image:
            save_image(unit.tmp, gen.frames[0])
        else:
            save_video(unit.tmp, gen.frames, fps=plan.fps or 16)
        all_timings = {**(timings or {}), **gen.timings, "write_s": time.perf_counter() - t0}
        parts = [v for k, v in all_timings.items() if k.endswith("_s") and k not in ("per_step_s", "total_s")]
        all_timings["total_s"] = float(sum(parts))
        s = gen.sampler
        unit.record = {
            "plan": plan.to_json(),
            "seed": gen.seed,
            "steps": s.steps,
            "guidance": s.guidance,
            "shift": gen.record.get("shift"),
            "context_scale": s.context_scale,
            "negative_prompt": s.negative_prompt or "wan default (prompts/wan_negative.txt)",
            "width": gen.width,
            "height": gen.height,
            "num_frames": gen.num_frames,
            "fps": None if is_image else plan.fps,
            "projector_tokens": gen.projector_tokens,
            **{k: v for k, v in gen.record.items() if k != "shift"},
            "notes": gen.notes,
            "warnings": gen.warnings,
            "timings": all_timings,
        }
    return GenerationResult(
        [unit.path],
        [unit.sidecar],
        gen.seed,
        list(gen.notes),
        all_timings,
        gen.width,
        gen.height,
        gen.num_frames,
        list(gen.warnings),
    )


def keep_attempt(
    kept: GenerationResult, others: Sequence[GenerationResult], aside: Path, verification: dict[str, Any]
) -> None:
    """After checking several attempts at one step: move the other attempts' outputs and sidecars into ``aside``
    (never deleted) and record ``verification`` (threshold, every attempt's checks and score) in the kept one's
    sidecar. The files are the ones :func:`write_generation` wrote; a file already gone is skipped."""
    for other in others:
        aside.mkdir(parents=True, exist_ok=True)
        for f in [*other.outputs, *other.sidecars]:
            if Path(f).exists():
                Path(f).replace(aside / Path(f).name)
    for sidecar in kept.sidecars:
        if Path(sidecar).exists():
            data = json.loads(Path(sidecar).read_text())
            data["verification"] = verification
            write_json(sidecar, data)


__all__ = [
    "AUTO",
    "NO_PROJECTOR_NOTE",
    "Generation",
    "GenerationResult",
    "Sampler",
    "UnisonPipeline",
    "flow_scheduler",
    "keep_attempt",
    "pick_seed",
    "write_generation",
]
