"""Benchmark training: seconds per optimizer step and peak memory, for the planner LoRA and the projector.

Tiny mode (default, a CPU smoke test): the tiny Qwen kit and the tiny Wan2.1-VACE, a handful of planning cases
(the shipped ``evals/plan_cases.jsonl``) and two 64x64 image targets for the projector.

Real-size mode (``--real-size``, meant for a CUDA machine): the published-shape kit
(:func:`unison_agent.tiny.published.build_published_kit`, ``FULL_DEPTH``: Qwen2.5-VL-3B and Wan2.1-VACE-1.3B at
their published sizes, random weights, bf16); ``--smoke`` keeps one layer per stack (for a CPU check of the path).
Every figure printed is measured in this run; nothing is estimated.

    python benchmarks/bench_train.py                      # tiny, CPU
    python benchmarks/bench_train.py --real-size          # CUDA, bf16, published sizes
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def gpu_peak_gb() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 1024**3 if torch.cuda.is_available() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-size", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="with --real-size: one layer per stack")
    parser.add_argument("--device", default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="projector target side in pixels")
    parser.add_argument("--frames", type=int, default=1, help="projector target frames (1: an image)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from unison_agent.contract.settings import Settings
    from unison_agent.media.files import write_image, write_video
    from unison_agent.training.data import load_examples
    from unison_agent.training.planner import PlannerTrainConfig, build_model, train
    from unison_agent.training.planner_run import default_media
    from unison_agent.training.projector import ProjectorTrainConfig, ProjectorTrainer, train_projector

    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    if args.real_size:
        from unison_agent.tiny.published import FULL_DEPTH, SMOKE_DEPTH, build_published_kit

        kit = build_published_kit(work / "kit", None if args.smoke else FULL_DEPTH)
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        del SMOKE_DEPTH
    else:
        from unison_agent.tiny.qwen import build_tiny_qwen
        from unison_agent.tiny.wan import build_tiny_vace

        kit = {**build_tiny_qwen(work / "kit"), **build_tiny_vace(work / "kit")}
        device = args.device or "cpu"
    settings = Settings.resolve({"home": str(work / "home"), "device": device, **kit}, env={})
    report: dict = {
        "mode": "real-size" + (" smoke" if args.smoke else "") if args.real_size else "tiny",
        "device": device,
        "torch": torch.__version__,
    }

    media, tmp = default_media(work / "media")
    cases = [json.loads(line) for line in (ROOT / "evals" / "plan_cases.jsonl").read_text().splitlines()]
    for c in cases:
        c.setdefault("answer", "An answer.")
    data = work / "cases.jsonl"
    data.write_text("\n".join(json.dumps(c) for c in cases[:: max(1, len(cases) // args.cases)]) + "\n")
    examples = load_examples(data, media)
    cfg = PlannerTrainConfig(
        out=work / "adapter", start=Path(kit["unison"]), max_steps=args.steps, batch_size=4, save_every=0
    )
    model, processor, dev, _ = build_model(settings, cfg)
    train(
        model,
        processor,
        examples,
        PlannerTrainConfig(out=work / "warm", start=cfg.start, max_steps=1, batch_size=4, save_every=0),
        dev,
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = train(model, processor, examples, cfg, dev)
    report["planner"] = {
        "steps": args.steps,
        "batch": 4,
        "s_per_step": (time.perf_counter() - started) / args.steps,
        "loss_first": result.losses[0],
        "loss_last": result.losses[-1],
        "gpu_peak_gb": gpu_peak_gb(),
        "rss_peak_gb": peak_rss_gb(),
    }
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    rng = np.random.default_rng(0)
    target = work / ("target.png" if args.frames == 1 else "target.mp4")
    pixels = rng.integers(0, 255, (args.frames, args.size, args.size, 3), dtype=np.uint8)
    write_image(target, pixels[0]) if args.frames == 1 else write_video(target, pixels, fps=16)
    pairs = work / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "a picture", "target": str(target)}) + "\n")
    pcfg = ProjectorTrainConfig(out=work / "projector.pth", max_steps=1, save_every=0)
    trainer = ProjectorTrainer(settings, pcfg)
    train_projector(settings, pairs, pcfg, trainer=trainer)  # warm-up (and the frozen parts cached)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    pcfg.max_steps = args.steps
    started = time.perf_counter()
    train_projector(settings, pairs, pcfg, trainer=trainer)
    report["projector"] = {
        "steps": args.steps,
        "size": args.size,
        "frames": args.frames,
        "s_per_step": (time.perf_counter() - started) / args.steps,
        "gpu_peak_gb": gpu_peak_gb(),
        "rss_peak_gb": peak_rss_gb(),
    }
    print(json.dumps(report, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
