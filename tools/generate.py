"""Stage two as a tool: generate the image or video a plan asks for and write it with its sidecar.

``generate(plan, settings, out_dir=..., files=...)`` is three steps, each its own function:
:func:`unison_agent.models.vace_inputs.prepare_inputs` (the plan's files and the maps the graph's annotate step made,
``files``), :class:`unison_agent.models.pipeline.UnisonPipeline` (built once per settings, projector tokens included)
and :func:`unison_agent.models.pipeline.write_generation` (PNG / H.264 MP4 + JSON sidecar, atomically, sidecar last).
The seed is always recorded; the same seed gives the same output. No annotator runs here. Progress: ``loading``
(only when a model loads), ``denoising`` and ``decoding`` (the pipeline), ``writing``.

A video made window by window keeps each finished window in a work folder of the step
(:mod:`unison_agent.models.window_work`): a retry after a stop or a kill continues from the last finished window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import PlanError
from unison_agent.contract.plan import Plan
from unison_agent.core.progress import stage
from unison_agent.media.files import MediaLimits
from unison_agent.models.pipeline import AUTO, NO_PROJECTOR_NOTE, GenerationResult, Sampler, UnisonPipeline, pick_seed
from unison_agent.models.pipeline import write_generation as write_generation
from unison_agent.models.vace_inputs import prepare_inputs
from unison_agent.models.window_work import WindowWork, work_key, work_root

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings

__all__ = ["NO_PROJECTOR_NOTE", "GenerationResult", "generate", "prepare_inputs", "write_generation"]


def _check_plan(plan: Plan) -> Plan:
    """A generation plan (a Plan was validated when it was made; it is not validated again here)."""
    if not isinstance(plan, Plan):
        raise PlanError(f"generate needs a Plan, got {type(plan).__name__}")
    if not plan.task.is_generation:
        raise PlanError(f"{plan.task.value} is an understanding task; stage two only generates images and videos")
    return plan


def _sample(
    pipe: UnisonPipeline,
    plan: Plan,
    inputs,
    settings: Settings,
    *,
    seed: int,
    random_seed: bool,
    **kwargs: Any,
) -> tuple[Any, WindowWork | None]:
    """One call, or window by window for a video longer than a window or a clip to extend
    (:mod:`unison_agent.models.windows`), with the step's work folder (resumes what an earlier run finished)."""
    from unison_agent.core.extend import given_frames
    from unison_agent.models.windows import WindowSizes, check_length, generate_windows, needs_windows

    check_length(plan, settings)
    sizes = WindowSizes.from_settings(settings)
    given = given_frames(plan, inputs)
    if not needs_windows(plan, inputs, sizes, given):
        return pipe(plan, inputs, seed=seed, **kwargs), None
    cond = kwargs.get("cond_tokens")
    parts = {
        "windows": [sizes.frames, sizes.overlap],
        "sampler": asdict(kwargs["sampler"]),
        "models": pipe.record,
        "conditioning": "auto" if cond is AUTO else None if cond is None else _digest(cond),
    }
    work = WindowWork.open(work_root(settings), work_key(plan, inputs, parts, None if random_seed else seed, given))
    if random_seed and work.seed is not None:
        seed = work.seed  # a retry continues with the seed the stopped run drew
    return generate_windows(pipe, plan, inputs, sizes, seed=seed, given=given, work=work, **kwargs), work


def _digest(tensor: Any) -> str:
    import hashlib

    arr = tensor.detach().float().cpu().numpy() if hasattr(tensor, "detach") else tensor
    return hashlib.blake2b(arr.tobytes(), digest_size=12).hexdigest()


def generate(
    plan: Plan,
    settings: Settings,
    *,
    out_dir: Path,
    seed: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    files: Mapping[str, str | Path] | None = None,
    frames: Mapping[str, Any] | None = None,
    cond_tokens: Any = AUTO,
) -> GenerationResult:
    """Generate what ``plan`` asks for; write the PNG/MP4 and its JSON sidecar into ``out_dir``.

    ``files``: prepared maps by role ("control", "mask"), see :func:`prepare_inputs`; ``frames``: arrays in
    place of files. ``seed``: None takes ``settings.seed``, else a random one; always recorded.
    ``on_step(i, total)`` runs after each denoising step. The sampler values and the seed are checked once, here,
    before anything loads (a :class:`Sampler` checks itself when made). ``cond_tokens``: the projector's tokens (1, 4,
    text_dim), ``None`` for the text alone, or (default) computed from the settings' planner + projector.
    """
    from unison_agent.models.registry import pick_device
    from unison_agent.models.vace_loader import effective_offload

    t0 = time.perf_counter()
    plan = _check_plan(plan)
    sampler = Sampler.from_settings(settings)
    requested = seed if seed is not None else settings.seed
    seed = pick_seed(requested)
    inputs = prepare_inputs(plan, files, frames=frames, limits=MediaLimits.from_settings(settings))
    t1 = time.perf_counter()
    pipe = UnisonPipeline.from_settings(settings)
    t2 = time.perf_counter()
    gen, work = _sample(
        pipe,
        plan,
        inputs,
        settings,
        seed=seed,
        random_seed=requested is None,
        on_step=on_step,
        cond_tokens=cond_tokens,
        sampler=sampler,
    )
    device = pick_device(settings)
    if settings.offload != "none" and effective_offload(settings, device) == "none":
        gen.notes.append(f"offload={settings.offload} ignored on the {device.type} device (nothing to offload to)")
    stage("writing", "writing outputs")
    result = write_generation(gen, plan, Path(out_dir), timings={"prepare_s": t1 - t0, "load_s": t2 - t1})
    if work is not None:
        work.finish()  # the output is written: the finished windows are no longer needed
    return result
