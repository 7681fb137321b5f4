"""Benchmark stage one (Qwen2.5-VL planner + understanding + projector): latency and peak memory.

Tiny mode (default, runs on CPU): builds the tiny Qwen kit and times, through the real loaders,
the planner load, the ``unison`` planner (token protocol), the ``qwen`` planner (JSON-schema constrained
decoding), the projector tokens, and understanding of text, an image and a video.

Real-size mode (``--real-size``, meant for a CUDA machine): a model of Qwen2.5-VL-3B-Instruct's published shape
(text hidden 2048, 36 layers, 16 heads / 2 KV heads, intermediate 11008, vocab 151936; vision depth 32, hidden
1280, 16 heads, intermediate 3420, window 112, full attention at blocks 7/15/23/31) with random weights, saved in
bf16 and loaded back through ``load_planner``; the tokenizer and processor are the tiny kit's (so prompts tokenize
longer than with Qwen's real vocabulary). The projector is the released size (2048 -> 2048 -> 4096). Media are
a 640x480 image and a 4 s 320x240 video at 16 fps (sampled at ``video_fps``). ``--device cpu --num-layers 1
--vision-depth 1`` smoke-tests this path on a CPU.

    python benchmarks/bench_stage1.py                 # tiny, CPU
    python benchmarks/bench_stage1.py --real-size     # CUDA, bf16
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _rss_peak_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


_NEW_TOKENS: list[int] = []


def _count_generated_tokens() -> None:
    """Record how many tokens each ``generate`` call produced (the last call of a timed run is reported)."""
    from transformers.generation.utils import GenerationMixin

    original = GenerationMixin.generate
    if getattr(original, "_counting", False):
        return

    def generate(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        prompt = kwargs.get("input_ids", args[0] if args else None)
        sequences = out if hasattr(out, "shape") else out.sequences
        _NEW_TOKENS.append(int(sequences.shape[1] - (prompt.shape[1] if prompt is not None else 0)))
        return out

    generate._counting = True  # type: ignore[attr-defined]
    GenerationMixin.generate = generate


class Meter:
    """Times a call (median of ``repeat`` after one warm-up) and records peak memory (CUDA allocator or RSS)."""

    def __init__(self, device: str, repeat: int) -> None:
        self.device, self.repeat, self.rows = device, repeat, []

    def run(self, name: str, fn: Callable[[], object], *, generates: bool = False) -> object:
        import torch

        cuda = self.device.startswith("cuda")
        result = fn()  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(self.repeat):
            _NEW_TOKENS.clear()
            start = time.perf_counter()
            result = fn()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        row = {"step": name, "median_s": round(statistics.median(times), 4), "runs": self.repeat}
        if generates and _NEW_TOKENS:
            n = _NEW_TOKENS[-1]
            row["new_tokens"] = n
            row["ms_per_token"] = round(1000 * statistics.median(times) / max(n, 1), 2)
        row.update(self.memory())
        self.rows.append(row)
        return result

    def once(self, name: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = fn()
        self.rows.append({"step": name, "median_s": round(time.perf_counter() - start, 3), "runs": 1, **self.memory()})
        return result

    def memory(self) -> dict:
        import torch

        if self.device.startswith("cuda"):
            return {"peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3), "peak_kind": "CUDA allocated"}
        return {"peak_gb": round(_rss_peak_gb(), 3), "peak_kind": "process RSS"}


def _media(tmp: Path, real: bool) -> dict[str, str]:
    import numpy as np

    from unison_agent.media.files import write_image, write_video

    rng = np.random.default_rng(0)
    h, w = (480, 640) if real else (64, 80)
    vh, vw, frames = (240, 320, 64) if real else (64, 64, 16)
    fps = 16 if real else 8
    return {
        "image": str(write_image(tmp / "photo.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))),
        "video": str(write_video(tmp / "clip.mp4", rng.integers(0, 256, (frames, vh, vw, 3), dtype=np.uint8), fps=fps)),
    }


def _real_size_dir(tmp: Path, tiny: dict[str, str], args: argparse.Namespace) -> Path:
    """A Qwen2.5-VL-3B-shaped random model saved in bf16 with the tiny kit's processor (Unison tokens included)."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    processor = AutoProcessor.from_pretrained(tiny["planner_merged"])
    tiny_cfg = Qwen2_5_VLConfig.from_pretrained(tiny["planner_merged"])
    text = dict(
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=args.num_layers,
        num_attention_heads=16,
        num_key_value_heads=2,
        max_position_embeddings=128000,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        bos_token_id=tiny_cfg.text_config.bos_token_id,
        eos_token_id=tiny_cfg.text_config.eos_token_id,
    )
    vision = dict(
        depth=args.vision_depth,
        hidden_size=1280,
        intermediate_size=3420,
        num_heads=16,
        out_hidden_size=2048,
        fullatt_block_indexes=[i for i in (7, 15, 23, 31) if i < args.vision_depth] or [args.vision_depth - 1],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        tokens_per_second=2,
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tiny_cfg.image_token_id,
        video_token_id=tiny_cfg.video_token_id,
        vision_start_token_id=tiny_cfg.vision_start_token_id,
        vision_end_token_id=tiny_cfg.vision_end_token_id,
        tie_word_embeddings=False,
    )
    device = torch.device(args.device)
    with device:
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = tiny_cfg.text_config.eos_token_id
    out = tmp / "qwen-3b-random"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def _real_projector(tmp: Path) -> Path:
    import torch

    from unison_agent.models.projector import ProjMLP

    path = tmp / "projector.pth"
    torch.save({f"module.{k}": v for k, v in ProjMLP(input_dim=2048).state_dict().items()}, path)
    return path


def bench(args: argparse.Namespace) -> list[dict]:
    import torch

    from unison_agent.contract.settings import Settings
    from unison_agent.models.projector import projector_tokens
    from unison_agent.models.qwen_loader import load_planner
    from unison_agent.planners.base import Request
    from unison_agent.planners.qwen import QwenPlanner
    from unison_agent.planners.rules import RulesPlanner
    from unison_agent.planners.unison import UnisonPlanner
    from unison_agent.tiny.qwen import build_tiny_qwen
    from unison_agent.tools.understand import understand

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_stage1_"))
    meter = Meter(args.device if args.real_size else "cpu", args.repeat)
    tiny = meter.once("build tiny kit", lambda: build_tiny_qwen(tmp / "tiny"))
    flags = {"home": str(tmp / "home"), "max_new_tokens": args.max_new_tokens, **tiny}
    if args.real_size:
        real = meter.once("write 3B-sized random model", lambda: _real_size_dir(tmp, tiny, args))
        flags.update(qwen=str(real), planner_merged=str(real), projector=str(_real_projector(tmp)))
        flags.update(device=args.device, dtype="bfloat16" if args.device.startswith("cuda") else "float32")
    else:
        flags.update(device="cpu", dtype="float32")
    settings = Settings.resolve(flags, env={})
    files = _media(tmp, args.real_size)

    meter.once("load planner (merged)", lambda: load_planner(settings, "merged"))
    if not args.real_size:
        meter.once("load planner (base + adapter)", lambda: load_planner(settings.replace(planner_merged=None)))
    meter.once("load planner (base)", lambda: load_planner(settings, "base"))

    t2v = Request.parse("make a 3 second video of a fox running in the snow at 832x480")
    edit = Request.parse(f"replace the sky in ###{files['image']}### with a sunset")
    unison = UnisonPlanner(settings, max_new_tokens=args.plan_tokens)
    _count_generated_tokens()
    meter.run("unison planner: generate + decode", lambda: unison.plan(t2v), generates=True)
    qwen = QwenPlanner(settings)
    meter.run("qwen planner: constrained JSON plan", lambda: qwen.plan(edit), generates=True)
    meter.run("rules planner", lambda: RulesPlanner().plan(edit))
    meter.run("projector tokens", lambda: projector_tokens(settings, t2v.prompt))

    plans = {
        "text": RulesPlanner().plan(Request.parse("why is the sky blue?")),
        "image": RulesPlanner().plan(Request.parse(f"what is in ###{files['image']}###?")),
        "video": RulesPlanner().plan(Request.parse(f"what happens in ###{files['video']}###?")),
    }
    for name, plan in plans.items():
        meter.run(f"understanding: {name}", lambda plan=plan: understand(plan, settings), generates=True)
    for row in meter.rows:
        row.update(mode="real-size" if args.real_size else "tiny", device=settings.device)
    return meter.rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-size", action="store_true", help="Qwen2.5-VL-3B-sized random model (CUDA, bf16)")
    ap.add_argument("--device", default="cuda", help="real size only: cuda (default) or cpu for a smoke test")
    ap.add_argument("--num-layers", type=int, default=36, help="real size only: text layers (36)")
    ap.add_argument("--vision-depth", type=int, default=32, help="real size only: vision blocks (32)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per step (median reported)")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="understanding answer length cap")
    ap.add_argument("--plan-tokens", type=int, default=64, help="unison planner answer length cap (reference: 256)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest for tiny models)")
    ap.add_argument("--json", action="store_true", help="print rows as JSON lines only")
    args = ap.parse_args(argv)
    rows = bench(args)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'step':45s} {'median s':>9s} {'tokens':>7s} {'ms/tok':>8s} {'peak GB':>8s}  memory")
    for row in rows:
        print(
            f"{row['step']:45s} {row['median_s']:9.3f} {row.get('new_tokens', ''):>7} "
            f"{row.get('ms_per_token', ''):>8} {row['peak_gb']:8.3f}  {row['peak_kind']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
