"""Training the projector with Wan's flow-matching loss; the planner and Wan2.1-VACE stay frozen, in eval mode.

For each (prompt, target image or clip) pair:

- the target is resized to the training size, VAE-encoded and normalised with the VAE's ``latents_mean`` /
  ``latents_std`` as diffusers does (``x0``);
- the VACE context is what the pipeline builds for a request without inputs (an all-generate mask over a zero
  video), so the transformer sees exactly what it sees at text-to-image / text-to-video generation;
- the conditioning is built as in generation: the planner's hidden states over the planning prompt
  (:func:`unison_agent.models.projector.planner_hidden_states`) -> the projector's four rows, appended to the umT5 rows
  and zero-padded to 2048 (:func:`unison_agent.models.conditioning.build_prompt_embeds`);
- a timestep from the flow scheduler's shifted sigmas: ``s ~ U(0, 1)``, ``sigma = shift*s / (1 + (shift-1)*s)``,
  ``x_t = (1 - sigma) * x0 + sigma * noise``, the timestep ``sigma * 1000``; the loss is the mean squared error
  between the transformer's prediction and the velocity ``noise - x0``.

Only the projector's parameters are given to the optimizer and get gradients.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import UnisonError
from unison_agent.training.data import DataError, read_lines

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

NUM_TRAIN_TIMESTEPS = 1000


@dataclass
class ProjectorTrainConfig:
    out: Path
    start: Path | None = None
    """projector.pth to start from (None: fresh weights of the planner's and Wan's widths)."""
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 1e-4
    batch_size: int = 1
    grad_accum: int = 1
    save_every: int = 50
    seed: int = 0
    resume: bool = False
    hidden: int | None = None
    """Fresh projector's hidden width (None: the planner's text hidden size, as released)."""


@dataclass
class ProjectorPair:
    line: int
    prompt: str
    """The planning prompt (what generation encodes)."""
    target: Path
    width: int
    height: int
    num_frames: int


@dataclass
class ProjectorResult:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int | None = None
    held_fixed: dict[str, Any] | None = None
    """The loss at fixed timesteps and noise on the first :data:`EVAL_PAIRS` pairs, before and after training
    ({"pairs", "draws", "before", "after"}): unlike the training loss, it moves only when the projector does."""


EVAL_PAIRS = 16
EVAL_DRAWS = 4


def flow_sigma(s: torch.Tensor | float, shift: float):
    """The flow scheduler's shifted sigma for ``s`` in [0, 1]: ``shift*s / (1 + (shift-1)*s)``."""
    return shift * s / (1 + (shift - 1) * s)


def load_pairs(path: Path) -> list[ProjectorPair]:
    """``{"prompt", "target"[, "width", "height", "num_frames"]}`` per line; errors name the line."""
    from unison_agent.contract.mentions import find_mentions, planning_prompt
    from unison_agent.contract.plan import MAX_FRAMES, snap16, snap_frames
    from unison_agent.media.files import MediaError, check_file

    pairs = []
    for n, case in read_lines(path):
        where = f"{path}:{n}"
        prompt, target = case.get("prompt"), case.get("target")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f'{where}: a pair needs a "prompt" (the text the target was made for)')
        if not isinstance(target, str) or not target:
            raise DataError(f'{where}: no target: a pair needs "target", the path of an image or clip')
        if find_mentions(prompt, check=False):
            raise DataError(f"{where}: the prompt mentions files; projector pairs are text prompts with a target")
        file = Path(target).expanduser()
        if not file.is_absolute():
            file = path.parent / file
        try:
            info = check_file(file)
        except (MediaError, UnisonError) as exc:
            raise DataError(f"{where}: target: {exc}") from None
        width = int(case.get("width") or snap16(info.width))
        height = int(case.get("height") or snap16(info.height))
        if width % 16 or height % 16:
            raise DataError(f"{where}: width and height must be multiples of 16, got {width}x{height}")
        frames = (
            1 if info.kind == "image" else int(case.get("num_frames") or snap_frames(min(info.frames or 1, MAX_FRAMES)))
        )
        pairs.append(ProjectorPair(n, planning_prompt(prompt, []), file, width, height, frames))
    return pairs


class ProjectorTrainer:
    """The frozen planner and Wan2.1-VACE, the projector in training, and one loss per pair."""

    def __init__(self, settings: Settings, cfg: ProjectorTrainConfig) -> None:
        import torch

        from unison_agent.models.projector import load_projector
        from unison_agent.models.qwen_loader import load_planner
        from unison_agent.models.registry import pick_device
        from unison_agent.models.vace_loader import load_vace

        self.settings, self.cfg = settings, cfg
        self.device = pick_device(settings)
        self.planner = load_planner(settings)
        self.pipe = load_vace(settings)
        for module in (self.planner.model, self.pipe.transformer, self.pipe.vae, self.pipe.text_encoder):
            module.eval()
            module.requires_grad_(False)
        text_dim = int(self.pipe.text_encoder.config.d_model)
        if cfg.start is not None:
            self.projector = load_projector(cfg.start, self.planner.text_hidden_size)
        else:
            from unison_agent.models.projector import ProjMLP

            torch.manual_seed(cfg.seed)
            hidden = cfg.hidden or self.planner.text_hidden_size
            self.projector = ProjMLP(input_dim=self.planner.text_hidden_size, hidden_dim=hidden, out_dim=text_dim)
        if int(self.projector.out_dim) != text_dim:
            raise UnisonError(
                f"the projector writes {self.projector.out_dim}-wide rows but this Wan's text encoder is "
                f"{text_dim} wide; start from a projector made for it, or --fresh"
            )
        self.projector = self.projector.float().to(self.device).train()
        self._cache: dict[int, dict[str, Any]] = {}

    def parameters(self):
        return list(self.projector.parameters())

    def prepared(self, pair: ProjectorPair) -> dict[str, Any]:
        """The frozen parts of a pair, computed once: x0, the VACE context, the planner's hidden states."""
        if pair.line not in self._cache:
            self._cache[pair.line] = self._prepare(pair)
        return self._cache[pair.line]

    def _prepare(self, pair: ProjectorPair) -> dict[str, Any]:
        import numpy as np
        import torch

        from unison_agent.media.files import read_image, read_video
        from unison_agent.models.projector import planner_hidden_states

        pipe = self.pipe
        if pair.num_frames == 1:
            frames = read_image(pair.target)[None]
        else:
            frames, _ = read_video(pair.target, max_frames=pair.num_frames)
            if len(frames) < pair.num_frames:  # a short clip: hold its last frame
                frames = np.concatenate([frames, np.repeat(frames[-1:], pair.num_frames - len(frames), 0)])
        from PIL import Image

        pil = [Image.fromarray(f) for f in frames]
        video = pipe.video_processor.preprocess_video(pil, pair.height, pair.width).to(self.device)
        vae = pipe.vae
        mean = torch.tensor(vae.config.latents_mean, device=self.device).view(1, -1, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(vae.config.latents_std, device=self.device).view(1, -1, 1, 1, 1)
        with torch.no_grad():
            x0 = vae.encode(video.to(vae.dtype)).latent_dist.mode()
            x0 = (x0.float() - mean) * inv_std
            cvideo, cmask, refs = pipe.preprocess_conditions(
                None, None, None, 1, pair.height, pair.width, pair.num_frames, torch.float32, self.device
            )
            context = pipe.prepare_video_latents(cvideo, cmask, refs, None, self.device)
            context = torch.cat([context, pipe.prepare_masks(cmask, refs, None)], dim=1)
            hidden = planner_hidden_states(self.planner, pair.prompt).float()
        return {"x0": x0, "context": context.to(pipe.transformer.dtype), "hidden": hidden}

    def loss(self, pair: ProjectorPair, generator: torch.Generator) -> torch.Tensor:
        """Flow-matching loss for one pair at a random timestep (gradients reach the projector only)."""
        import torch

        from unison_agent.models.conditioning import CONTEXT_LEN, build_prompt_embeds

        p = self.prepared(pair)
        x0 = p["x0"]
        rows = self.projector(p["hidden"])
        embeds = build_prompt_embeds(self.pipe, pair.prompt, rows, max_len=CONTEXT_LEN)
        s = torch.rand((), generator=generator)
        sigma = float(flow_sigma(s, float(self.settings.shift)))
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t = (1 - sigma) * x0 + sigma * noise
        timestep = torch.tensor([sigma * NUM_TRAIN_TIMESTEPS], device=x0.device)
        dtype = self.pipe.transformer.dtype
        mixed = self.device.type == "cuda" and dtype != torch.float32
        with torch.autocast(self.device.type, dtype=dtype, enabled=mixed):
            pred = self.pipe.transformer(
                hidden_states=x_t.to(dtype),
                timestep=timestep,
                encoder_hidden_states=embeds.to(dtype),
                control_hidden_states=p["context"],
                control_hidden_states_scale=torch.ones(1, device=x0.device),
                return_dict=False,
            )[0]
        return torch.nn.functional.mse_loss(pred.float(), (noise - x0).float())

    def state_dict(self) -> dict[str, Any]:
        """The projector in the released key layout (ln_in, net.0, net.3, ln_out, seq_adjust), on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.projector.state_dict().items()}


def train_projector(
    settings: Settings,
    data: Path,
    cfg: ProjectorTrainConfig,
    *,
    console=None,
    on_step: Callable[[int, int, float], None] | None = None,
    trainer: ProjectorTrainer | None = None,
    evaluate: bool = True,
) -> ProjectorResult:
    """Train and write ``cfg.out`` (a checkpoint ``<out>.ckpt`` every ``save_every`` steps; ``resume`` from it).
    With ``evaluate``, the held-fixed loss (:func:`mean_loss`) is measured before and after (``held_fixed``)."""
    import torch

    pairs = load_pairs(Path(data))
    trainer = trainer or ProjectorTrainer(settings, cfg)
    measured = pairs[:EVAL_PAIRS]
    before = None
    total = cfg.max_steps or max(1, math.ceil(len(pairs) * cfg.epochs / cfg.grad_accum))
    optimizer = torch.optim.AdamW(trainer.parameters(), lr=cfg.lr, weight_decay=0.0)
    ckpt = cfg.out.with_name(cfg.out.name + ".ckpt")
    step = 0
    result = ProjectorResult()
    if cfg.resume:
        if not ckpt.is_file():
            raise UnisonError(f"--resume: no checkpoint at {ckpt}; run without --resume to start")
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state["total"] != total or state["pairs"] != len(pairs):
            raise UnisonError(
                f"--resume: {ckpt} belongs to another run ({state['total']} steps, {state['pairs']} "
                "pairs); give the same data and --epochs/--max-steps"
            )
        trainer.projector.load_state_dict(state["projector"])
        optimizer.load_state_dict(state["optimizer"])
        step, result.losses = int(state["step"]), list(state["losses"])
        result.resumed_from = step
        before = state.get("held_fixed_before")
    if evaluate and before is None:
        before = mean_loss(trainer, measured, draws=EVAL_DRAWS)
    generator = torch.Generator().manual_seed(cfg.seed + step)
    torch.manual_seed(cfg.seed + step)  # the projector's dropout masks: --seed makes a run repeatable
    started = time.perf_counter()
    bar = _bar(console, total, step)
    try:
        while step < total:
            optimizer.zero_grad(set_to_none=True)
            value = 0.0
            for k in range(cfg.grad_accum):
                index = (step * cfg.grad_accum + k) % len(pairs)
                order = list(range(len(pairs)))
                random.Random(cfg.seed * 1000 + (step * cfg.grad_accum + k) // len(pairs)).shuffle(order)
                loss = trainer.loss(pairs[order[index]], generator) / cfg.grad_accum
                loss.backward()
                value += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(trainer.parameters(), 1.0)
            optimizer.step()
            step += 1
            result.losses.append(value)
            if bar is not None:
                bar[0].update(bar[1], completed=step, loss=f"{value:.4f}")
            if on_step is not None:
                on_step(step, total, value)
            if cfg.save_every and (step % cfg.save_every == 0 or step == total):
                _save(
                    ckpt,
                    {
                        "step": step,
                        "total": total,
                        "pairs": len(pairs),
                        "losses": result.losses,
                        "projector": trainer.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "held_fixed_before": before,
                    },
                )
    finally:
        if bar is not None:
            bar[0].stop()
    result.seconds = time.perf_counter() - started
    trainer.projector.eval()
    if evaluate and before is not None:
        after = mean_loss(trainer, measured, draws=EVAL_DRAWS)
        result.held_fixed = {"pairs": len(measured), "draws": EVAL_DRAWS, "before": before, "after": after}
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    _save(cfg.out, trainer.state_dict())
    record = {"pairs": len(pairs), "steps": total, "lr": cfg.lr, "losses": result.losses}
    cfg.out.with_suffix(".json").write_text(json.dumps({**record, "held_fixed": result.held_fixed}, indent=1))
    return result


def _save(path: Path, obj: Any) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(obj, tmp)
    tmp.replace(path)  # complete or absent, never half-written


def _bar(console, total: int, done: int):
    if console is None:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]training the projector"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("projector", total=total, completed=done, loss="-")
    progress.start()
    return progress, task


def mean_loss(trainer: ProjectorTrainer, pairs: list[ProjectorPair], *, seed: int = 1234, draws: int = 4) -> float:
    """The loss over ``pairs`` at fixed timesteps and noise (``draws`` per pair), without gradients: a figure
    that moves only when the projector does."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    training = trainer.projector.training
    trainer.projector.eval()
    try:
        with torch.no_grad():
            values = [float(trainer.loss(p, generator)) for p in pairs for _ in range(draws)]
    finally:
        trainer.projector.train(training)
    return sum(values) / len(values)
