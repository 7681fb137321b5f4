"""Fine-tuning the planning LoRA (PEFT) on (planning prompt -> token plan) pairs, with a plain torch loop.

The model is loaded the way :mod:`unison_agent.models.qwen_loader` loads the adapter form: the base Instruct model, the
fourteen Unison tokens added in the published order, the embeddings sized and untied; then either the starting
adapter (trainable) or a fresh LoRA (:func:`fresh_lora_config`). The user message is chat-templated with a
generation prompt exactly as :class:`unison_agent.planners.unison.UnisonPlanner` prompts it, and the loss is on
the answer tokens (the target and ``<|im_end|>``) only.

A plain loop (rather than transformers' Trainer / TRL, which is not a dependency) keeps the checkpoint format,
the resume rule (same data, same order, the same step) and the CPU test path small and explicit.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import UnisonError
from unison_agent.training.data import Example, fingerprint

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
TRAINABLE_FILE = "trainable.pt"
OPTIMIZER_FILE = "optimizer.pt"


@dataclass
class PlannerTrainConfig:
    """How to train (the CLI flags)."""

    out: Path
    start: Path | None = None
    """The adapter to start from (None: a fresh LoRA)."""
    epochs: float = 3.0
    max_steps: int | None = None
    """Optimizer steps; overrides ``epochs`` when given."""
    lr: float = 2e-4
    batch_size: int = 4
    grad_accum: int = 1
    warmup: float = 0.05
    """Fraction of the steps with a linearly rising learning rate (then linear decay to zero)."""
    save_every: int = 50
    seed: int = 0
    resume: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_grad_norm: float = 1.0


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int | None = None


def fresh_lora_config(cfg: PlannerTrainConfig, token_ids: list[int]):
    """The fresh LoRA: rank ``lora_r`` on the text attention projections, the fourteen Unison token rows of the
    input embedding trainable, and the (untied) output head saved in full, as the tiny kit's adapter is made."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
        trainable_token_indices={"embed_tokens": token_ids},
        modules_to_save=["lm_head"],
        task_type=None,
    )


def build_model(settings: Settings, cfg: PlannerTrainConfig):
    """(peft model in train mode, processor, device, dtype): base + tokens + the starting or a fresh LoRA."""
    from peft import PeftModel, get_peft_model

    from unison_agent.models.qwen_loader import (
        _load_processor,
        _require,
        adapter_embedding_rows,
        add_unison_tokens,
        load_base_model,
        prepare_for_adapter,
    )
    from unison_agent.models.registry import pick_device, pick_dtype

    base = settings.checkpoint("qwen")
    _require(base, "model", "the Qwen2.5-VL base model", "qwen")
    device = pick_device(settings)
    dtype = pick_dtype(settings, device)
    processor = _load_processor(base)
    token_ids = add_unison_tokens(processor.tokenizer)
    model = load_base_model(base, device=device, dtype=dtype, attn="sdpa" if device.type != "cuda" else "sdpa")
    rows = adapter_embedding_rows(cfg.start) if cfg.start is not None else None
    prepare_for_adapter(model, len(processor.tokenizer), rows)
    if cfg.start is not None:
        _require(cfg.start, "adapter", "the starting adapter", "unison")
        peft_model = PeftModel.from_pretrained(model, str(cfg.start), is_trainable=True)
    else:
        _torch().manual_seed(cfg.seed)  # the fresh LoRA's initialisation follows --seed (a run can be repeated)
        peft_model = get_peft_model(model, fresh_lora_config(cfg, token_ids))
    for p in peft_model.parameters():  # trainable weights in float32 (bf16 weights + Adam lose small updates)
        if p.requires_grad and p.dtype != _torch().float32:
            p.data = p.data.float()
    return peft_model.to(device), processor, device, dtype


def _torch():
    import torch

    return torch


def tokenize(processor, examples: list[Example]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids) per example: the planner's chat prompt, then the target and ``<|im_end|>``."""
    tok = processor.tokenizer
    rows = []
    for e in examples:
        messages = [{"role": "user", "content": [{"type": "text", "text": e.prompt}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        p = tok(text, add_special_tokens=False)["input_ids"]
        a = tok(e.target + "<|im_end|>", add_special_tokens=False)["input_ids"]
        rows.append((list(p), list(a)))
    return rows


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask and labels (-100 except on the answer tokens)."""
    torch = _torch()
    length = max(len(p) + len(a) for p, a in rows)
    ids = torch.full((len(rows), length), pad_id)
    labels = torch.full((len(rows), length), -100)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, (p, a) in enumerate(rows):
        n = len(p) + len(a)
        ids[i, :n] = torch.tensor(p + a)
        labels[i, len(p) : n] = torch.tensor(a)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def schedule(cfg: PlannerTrainConfig, n_train: int) -> tuple[int, int]:
    """(optimizer steps in all, micro-batches per epoch)."""
    per_epoch = math.ceil(n_train / cfg.batch_size)
    if cfg.max_steps is not None:
        return cfg.max_steps, per_epoch
    return max(1, math.ceil(per_epoch * cfg.epochs / cfg.grad_accum)), per_epoch


def micro_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The order of one epoch (shuffled by seed and epoch, so a resumed run sees the same batches)."""
    order = list(range(n))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train(
    model,
    processor,
    examples: list[Example],
    cfg: PlannerTrainConfig,
    device: torch.device,
    *,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place; checkpoints every ``save_every`` steps under ``out/checkpoints``; resumes."""
    import time

    torch = _torch()
    torch.manual_seed(cfg.seed)
    rows = tokenize(processor, examples)
    pad_id = processor.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    total, per_epoch = schedule(cfg, len(rows))
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UnisonError("the model has no trainable parameters (is the adapter loaded as trainable?)")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    warm = max(1, int(total * cfg.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    data_hash = fingerprint(examples)
    step = 0
    result = TrainResult(steps=total)
    if cfg.resume:
        step = _resume(model, optimizer, scheduler, cfg, data_hash, total)
        result.resumed_from = step or None
    autocast = device.type == "cuda" and next(model.parameters()).dtype == torch.bfloat16
    model.train()
    started = time.perf_counter()
    while step < total:
        micro = step * cfg.grad_accum  # micro-batches done so far
        optimizer.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for k in range(cfg.grad_accum):
            epoch, index = divmod(micro + k, per_epoch)
            batch_idx = micro_batches(len(rows), cfg.batch_size, cfg.seed, epoch)[index]
            batch = {n: t.to(device) for n, t in collate([rows[i] for i in batch_idx], pad_id).items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                loss = model(**batch).loss / cfg.grad_accum
            loss.backward()
            loss_sum += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        result.losses.append(loss_sum)
        if on_step is not None:
            on_step(step, total, loss_sum)
        if cfg.save_every and (step % cfg.save_every == 0 or step == total):
            save_checkpoint(model, optimizer, scheduler, cfg, step, total, data_hash, loss_sum)
    result.seconds = time.perf_counter() - started
    model.eval()
    return result


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(model, optimizer, scheduler, cfg, step: int, total: int, data_hash: str, loss: float) -> Path:
    """``out/checkpoints/step-N``: the trainable weights, optimizer + scheduler state and where the run was."""
    torch = _torch()
    folder = cfg.out / CHECKPOINTS / f"step-{step:06d}"
    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    torch.save(trainable_state(model), tmp / TRAINABLE_FILE)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / OPTIMIZER_FILE)
    state = {"step": step, "total": total, "data": data_hash, "loss": loss, "config": _config_json(cfg)}
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)  # a checkpoint is complete or absent, never half-written
    return folder


def latest_checkpoint(out: Path) -> Path | None:
    folders = sorted(p for p in (out / CHECKPOINTS).glob("step-*") if (p / STATE_FILE).is_file())
    return folders[-1] if folders else None


def _resume(model, optimizer, scheduler, cfg, data_hash: str, total: int) -> int:
    torch = _torch()
    ckpt = latest_checkpoint(cfg.out)
    if ckpt is None:
        raise UnisonError(f"--resume: no checkpoint under {cfg.out / CHECKPOINTS}; run without --resume to start")
    state = json.loads((ckpt / STATE_FILE).read_text())
    if state["data"] != data_hash:
        raise UnisonError(
            f"--resume: {ckpt} was trained on different data (or a different split); resume with the same file "
            "and --val-fraction/--seed, or start again without --resume"
        )
    if state["total"] != total:
        raise UnisonError(
            f"--resume: {ckpt} belongs to a run of {state['total']} steps, this one has {total}; "
            "give the same --epochs/--max-steps/--batch-size/--grad-accum"
        )
    weights = torch.load(ckpt / TRAINABLE_FILE, map_location="cpu", weights_only=True)
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in weights]
    if missing:
        raise UnisonError(f"--resume: {ckpt} does not fit this model (missing {missing[:3]}...); same --from/--fresh?")
    with torch.no_grad():
        for n, w in weights.items():
            params[n].copy_(w.to(params[n].device, params[n].dtype))
    opt = torch.load(ckpt / OPTIMIZER_FILE, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    return int(state["step"])


def _config_json(cfg: PlannerTrainConfig) -> dict[str, Any]:
    data = asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in data.items()}


def save_adapter(model, processor, cfg: PlannerTrainConfig, out: Path, extra: dict[str, Any] | None = None) -> Path:
    """The adapter (PEFT layout), the tokenizer/processor it was trained with, the starting adapter's projector
    (so ``--unison OUT`` generates as before) and ``training.json``."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    if cfg.start is not None and (cfg.start / "projector.pth").is_file() and cfg.start.resolve() != out.resolve():
        shutil.copy2(cfg.start / "projector.pth", out / "projector.pth")
    (out / "training.json").write_text(json.dumps({"config": _config_json(cfg), **(extra or {})}, indent=1))
    return out
