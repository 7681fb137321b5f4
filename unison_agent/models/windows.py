"""Long videos window by window, with joins nobody should see.

Wan2.1-VACE was trained on 81-frame windows. A video plan longer than one window (setting ``window_frames``) is
generated in windows: each window after the first keeps the last K frames of what was made before (setting
``window_overlap``) as context, given to ``WanVACEPipeline`` with mask 0, and makes the frames after them as the
task needs (:class:`WindowInputs`). Reference images go to every window, each window's seed derives from the
step's (:func:`window_seed`), and the planner's conditioning is computed once for all of them.

Joins: each window's frames are colour-matched (LAB mean/std, :mod:`unison_agent.media.colour`) so that its overlap
looks like the kept frames, and the overlap is cross-faded into the previous window's frames. The output is
held as uint8 frames on the CPU; only the K kept frames stay float, and pass to the next window unrounded.
:func:`join_figures` measures each join against the neighbouring frames inside the windows (the sidecar's
``joins``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from unison_agent.contract.errors import PlanError, SettingsError
from unison_agent.contract.plan import DEFAULT_FPS, Plan, is_video_frame_count
from unison_agent.core import progress
from unison_agent.media.colour import match_to
from unison_agent.models.vace_inputs import GREY, VaceInputs

if TYPE_CHECKING:  # pragma: no cover
    from unison_agent.contract.settings import Settings
    from unison_agent.models.pipeline import Generation, Sampler, UnisonPipeline
    from unison_agent.models.window_work import WindowWork


@dataclass(frozen=True)
class WindowSizes:
    """``frames`` per window (4k+1) and the ``overlap`` kept from the previous one (4k+1, fewer)."""

    frames: int = 81
    overlap: int = 17

    @classmethod
    def from_settings(cls, settings: Settings) -> WindowSizes:
        sizes = cls(int(settings.window_frames), int(settings.window_overlap))
        sizes.check()
        return sizes

    def check(self) -> None:
        if not is_video_frame_count(self.frames):
            raise SettingsError(
                f"window_frames: {self.frames} is not allowed; use 4k+1 frames, at least 5 (the model's window is 81)"
            )
        if self.overlap < 1 or (self.overlap - 1) % 4 or self.overlap >= self.frames:
            raise SettingsError(
                f"window_overlap: {self.overlap} is not allowed; use 4k+1 frames (1, 5, 9, 13, 17...) "
                f"fewer than window_frames ({self.frames})"
            )


def max_frames(settings: Settings) -> int:
    """The longest video the settings allow, in frames at 16 fps (``max_video_seconds``; 60 s -> 961)."""
    return int(round(float(settings.max_video_seconds) * DEFAULT_FPS)) + 1


def check_length(plan: Plan, settings: Settings) -> None:
    """A :class:`PlanError` naming ``max_video_seconds`` when ``plan`` is longer than the settings allow."""
    if plan.task.output != "video" or plan.num_frames is None:
        return
    limit = max_frames(settings)
    if int(plan.num_frames) > limit:
        seconds = (int(plan.num_frames) - 1) / float(plan.fps or DEFAULT_FPS)
        raise PlanError(
            f"num_frames: a {seconds:g}-second video ({plan.num_frames} frames) is longer than "
            f"max_video_seconds ({float(settings.max_video_seconds):g} s, {limit} frames); ask for less, "
            "or raise the setting (--max-video-seconds / UNISON_MAX_VIDEO_SECONDS)"
        )


@dataclass(frozen=True)
class Window:
    """One call: output frames ``start .. start + num_frames``, of which the first ``kept`` are context."""

    index: int
    start: int
    kept: int
    num_frames: int

    @property
    def end(self) -> int:
        return self.start + self.num_frames

    @property
    def new_start(self) -> int:
        return self.start + self.kept


def plan_windows(total: int, sizes: WindowSizes, given: int = 0) -> list[Window]:
    """The windows that make ``total`` frames, the first ``given`` of which already exist (a clip to extend).

    The first window of a fresh video has no kept frames; every later one keeps ``sizes.overlap`` frames (a clip
    to extend shorter than that gives what it has, as 4k+1). Each window holds at most ``sizes.frames``.
    """
    windows: list[Window] = []
    pos = int(given)
    if pos == 0:
        first = min(sizes.frames, total)
        windows.append(Window(0, 0, 0, first))
        pos = first
    while pos < total:
        kept = min(sizes.overlap, (pos - 1) // 4 * 4 + 1)
        new = min(sizes.frames - kept, total - pos)
        if (kept + new - 1) % 4:
            raise PlanError(
                f"{total} frames after {given} given ones do not split into 4k+1 windows; ask for a "
                "length in whole latent frames (4 frames each)"
            )
        windows.append(Window(len(windows), pos - kept, kept, kept + new))
        pos += new
    return windows


def window_seed(seed: int, index: int) -> int:
    """Window ``index``'s seed: the step's own for the first, a fixed derivation for the others."""
    return int(seed) if index == 0 else (int(seed) + index * 0x9E3779B1) % 2**63


@dataclass
class WindowInputs(VaceInputs):
    """One window's inputs: ``kept`` float frames (mask 0) then the new frames (``video``/``mask``, uint8)."""

    kept: np.ndarray | None = None  # (K, H, W, 3) float32 in [0, 1]

    @property
    def n_kept(self) -> int:
        return 0 if self.kept is None else int(self.kept.shape[0])

    def pipeline_kwargs(self) -> dict[str, Any]:
        from PIL import Image

        n_new = self.num_frames - self.n_kept
        new = self.video if self.video is not None else np.full((n_new, self.height, self.width, 3), GREY, np.uint8)
        hole = self.mask >= 128 if self.mask is not None else np.ones(new.shape[:3], bool)
        video = new.astype(np.float32) / 255.0
        video[hole] = 0.5
        mask = hole.astype(np.float32)
        if self.kept is not None:
            video = np.concatenate([self.kept.astype(np.float32), video])
            mask = np.concatenate([np.zeros(self.kept.shape[:3], np.float32), mask])
        kwargs: dict[str, Any] = {
            "height": self.height,
            "width": self.width,
            "num_frames": self.num_frames,
            "video": video[None],
            "mask": mask[None, ..., None],
        }
        if self.references:
            kwargs["reference_images"] = [Image.fromarray(r) for r in self.references]
        return kwargs

    def check(self) -> None:
        n_new = self.num_frames - self.n_kept
        if self.video is not None:
            assert self.video.shape == (n_new, self.height, self.width, 3), self.video.shape
        if self.mask is not None:
            assert self.mask.shape == (n_new, self.height, self.width), self.mask.shape
        if self.kept is not None:
            assert self.kept.shape == (self.n_kept, self.height, self.width, 3), self.kept.shape


def window_inputs(full: VaceInputs, window: Window, kept: np.ndarray | None) -> WindowInputs:
    """``full``'s frames for ``window``: its new frames' slice of the video and mask, after ``kept``."""
    a, b = window.new_start, window.end
    return WindowInputs(
        full.width,
        full.height,
        window.num_frames,
        video=None if full.video is None else full.video[a:b],
        mask=None if full.mask is None else full.mask[a:b],
        references=list(full.references),
        kept=kept,
    )


def cross_fade(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """K frames going linearly from ``before`` to ``after`` (weights 1/(K+1) .. K/(K+1) on ``after``)."""
    k = before.shape[0]
    alpha = (np.arange(1, k + 1, dtype=np.float32) / (k + 1))[:, None, None, None]
    return (1.0 - alpha) * before + alpha * after


@dataclass
class Stitched:
    """The video so far: uint8 frames, the float copy of its last frames, where each join is."""

    frames: list[np.ndarray] = field(default_factory=list)
    tail: np.ndarray | None = None  # float32 copy of the last frames (at least the next window's kept ones)
    joins: list[int] = field(default_factory=list)
    windows: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of each window's own frames

    def add_given(self, frames: np.ndarray, keep: int) -> None:
        """Frames that exist already (a clip to extend), exactly as given."""
        self.frames.extend(np.asarray(frames, np.uint8))
        self.tail = np.asarray(frames[-keep:], np.float32) / 255.0 if keep else None
        self.windows.append((0, len(self.frames)))

    def add_window(
        self, window: Window, out: np.ndarray, keep: int, *, colour_match: bool = True, fade: bool = True
    ) -> np.ndarray:
        """Append a window's float output ``out`` (its first ``window.kept`` frames remake the kept ones);
        returns the frames as they go into the video (colour-matched, the overlap cross-faded; with ``fade``
        False the kept frames stay exactly as they are: a clip being extended)."""
        k = window.kept
        if k:
            kept = self.tail[-k:]
            if colour_match:
                out = match_to(out, out[:k], kept)
            out = out.copy()
            out[:k] = cross_fade(kept, out[:k]) if fade else kept
            del self.frames[-k:]
            self.joins.append(window.new_start)
        self.frames.extend(_to_uint8(out))
        self.windows.append((window.new_start, window.end))
        self.tail = out[-keep:].astype(np.float32) if keep else None
        return out

    def restore(self, window: Window, frames: np.ndarray) -> None:
        """Put back a window finished by an earlier run: ``frames`` as :meth:`add_window` put them in the video."""
        k = window.kept
        if k:
            del self.frames[-k:]
            self.joins.append(window.new_start)
        self.frames.extend(np.asarray(frames, np.uint8))
        self.windows.append((window.new_start, window.end))

    def array(self) -> np.ndarray:
        return np.stack(self.frames)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(frames) * 255.0), 0, 255).astype(np.uint8)


def frame_jump(a: np.ndarray, b: np.ndarray) -> float:
    """How much two frames differ: the mean absolute difference of their pixels, 0..255."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def join_figures(frames: np.ndarray, stitched: Stitched) -> list[dict[str, Any]]:
    """Per join: the jump between the two frames at it, the median jump between neighbouring frames inside the
    windows, and their ratio (1 or less: the join is no larger than the frames around it)."""
    joins = set(stitched.joins)
    inside = [frame_jump(frames[i - 1], frames[i]) for i in range(1, len(frames)) if i not in joins]
    median = float(np.median(inside)) if inside else 0.0
    figures = []
    for j in stitched.joins:
        jump = frame_jump(frames[j - 1], frames[j])
        figures.append(
            {
                "frame": int(j),
                "jump": round(jump, 3),
                "inside_median": round(median, 3),
                "ratio": round(jump / median, 3) if median > 0 else None,
            }
        )
    return figures


def generate_windows(
    pipe: UnisonPipeline,
    plan: Plan,
    full: VaceInputs,
    sizes: WindowSizes,
    *,
    seed: int,
    given: int = 0,
    sampler: Sampler | None = None,
    cond_tokens: Any = None,
    on_step: Callable[[int, int], None] | None = None,
    on_window: Callable[[int, int], None] | None = None,
    work: WindowWork | None = None,
) -> Generation:
    """Make ``full.num_frames`` frames window by window (see the module docstring); the first ``given`` frames of
    ``full.video`` are kept as they are (a clip to extend). ``on_window(i, n)`` is called as window i of n starts.

    ``work``: the step's work folder (:mod:`unison_agent.models.window_work`): each finished window is written
    there, and windows an earlier run finished are read back instead of being made again."""
    from unison_agent.models.pipeline import AUTO, Generation, Sampler

    windows = plan_windows(full.num_frames, sizes, given)
    stitched = Stitched()
    if given:
        stitched.add_given(full.video[:given], keep=windows[0].kept if windows else 0)
    first: dict[str, Any] | None = None
    timings: dict[str, float] = {}
    per_window: list[dict[str, Any]] = []
    resumed = _resume(work, windows, stitched, seed) if work is not None else 0
    for done in work.finished if resumed else []:
        first = first or done.info["first"]
        per_window.append(done.info["call"])
        _add_timings(timings, done.info["timings"])
    if resumed < len(windows) and cond_tokens is AUTO:
        cond_tokens = pipe.encode(plan.prompt)  # the planner's conditioning: once for every window
    try:
        for i, window in enumerate(windows):
            if i < resumed:
                continue
            progress.in_window(i + 1, len(windows))  # "window 2/4 · denoising" on every face
            if on_window is not None:
                on_window(i + 1, len(windows))
            kept = stitched.tail[-window.kept :] if window.kept else None
            inputs = window_inputs(full, window, kept)
            keep = windows[i + 1].kept if i + 1 < len(windows) else 0
            gen = pipe(
                plan,
                inputs,
                seed=window_seed(seed, i),
                on_step=on_step,
                cond_tokens=cond_tokens,
                sampler=sampler,
                keep_float=True,
            )
            out = stitched.add_window(window, gen.float_frames, keep, fade=not (given and i == 0))
            gen.float_frames = None
            first = first or {
                "notes": list(gen.notes),
                "warnings": list(gen.warnings),
                "sampler": asdict(gen.sampler),
                "projector_tokens": gen.projector_tokens,
                "record": gen.record,
            }
            _add_timings(timings, gen.timings)
            call = {
                "window": i + 1,
                "start": window.start,
                "kept": window.kept,
                "num_frames": window.num_frames,
                "seed": window_seed(seed, i),
                "seconds": round(sum(v for k, v in gen.timings.items() if k in ("denoise_s", "decode_s")), 3),
            }
            per_window.append(call)
            if work is not None:
                info = {"call": call, "timings": dict(gen.timings), "first": first}
                work.save(i, _to_uint8(out), stitched.tail if keep else None, info)
    finally:
        progress.in_window(0, 0)
    frames = stitched.array()
    assert first is not None
    notes = list(first["notes"])
    if len(windows) > 1 or given:
        notes.append(
            f"generated in {len(windows)} window(s) of at most {sizes.frames} frames, {sizes.overlap} kept "
            "from the previous one (colour-matched and cross-faded)"
        )
    if resumed:
        notes.append(
            f"continued from window {resumed + 1}/{len(windows)}: {_finished_words(resumed)} made by an earlier run "
            "that stopped, and read back from its work folder"
        )
    record = {
        **first["record"],
        "windows": {
            "frames": sizes.frames,
            "overlap": sizes.overlap,
            "given": given,
            "calls": per_window,
            "resumed": resumed,
        },
        "joins": join_figures(frames, stitched),
    }
    sampler_used = Sampler(**first["sampler"])
    return Generation(
        frames, seed, sampler_used, notes, list(first["warnings"]), timings, first["projector_tokens"], record
    )


def _resume(work: WindowWork, windows: list[Window], stitched: Stitched, seed: int) -> int:
    """Put the windows ``work`` holds back into ``stitched``; how many there were."""
    work.start(seed, len(windows))
    if not work.done:
        return 0
    for done in work.finished:
        stitched.restore(windows[done.index], done.frames)
    stitched.tail = work.tail
    text = f"continuing from window {work.done + 1}/{len(windows)} ({_finished_words(work.done)} made before)"
    progress.emit({"event": "status", "text": text})
    return work.done


def _finished_words(n: int) -> str:
    return "window 1 was" if n == 1 else f"windows 1-{n} were"


def _add_timings(timings: dict[str, float], more: dict[str, Any]) -> None:
    for k, v in more.items():
        timings[k] = timings.get(k, 0.0) + float(v) if k != "per_step_s" else float(v)


def needs_windows(plan: Plan, inputs: VaceInputs, sizes: WindowSizes, given: int = 0) -> bool:
    """Whether ``plan`` is made window by window: a video longer than one window, or a clip to extend."""
    return plan.task.output == "video" and (given > 0 or inputs.num_frames > sizes.frames)


__all__ = [
    "Stitched",
    "Window",
    "WindowInputs",
    "WindowSizes",
    "check_length",
    "cross_fade",
    "frame_jump",
    "generate_windows",
    "join_figures",
    "max_frames",
    "needs_windows",
    "plan_windows",
    "window_inputs",
    "window_seed",
]
