"""Benchmark stage two (Wan2.1-VACE): seconds per denoising step and peak memory.

Tiny mode (default, runs on CPU): builds the tiny VACE kit and times :func:`unison_agent.tools.generate.generate`
on text-to-video and image-to-video.

Real-size mode (``--real-size``, meant for a CUDA machine): a transformer of Wan2.1-VACE-1.3B's published shape
(dim 1536 = 12 heads x 128, ffn 8960, 30 layers, text dim 4096, VACE blocks at layers 0, 2, ..., 28, 96 VACE
input channels) and Wan2.1's VAE (base 96, dims x[1, 2, 4, 4], stride (4, 8, 8), 16 latent channels), random
weights, at 832x480x81 (32,760 tokens), with the method's context: prompt + 4 projector rows padded to 2048
positions, conditional and unconditional (guidance 5). The umT5-XXL encoder is not built (it runs once per
request, not per step); random context rows stand in for its output. Every combination of offload mode
(none / model / group / sequential), regional compile (off / on) and the fast mode (first-block cache off / on)
is timed in turn; each row gives seconds per step, the ratio to the FLOP floor (matmul FLOPs / ``--peak-tflops``),
peak memory, and for fast rows the SSIM and PSNR of the decoded frames against the full run with the same seed.
``--device cpu --num-layers 2 --size 64x64x5 --no-compile`` smoke-tests this path on a CPU.

    python benchmarks/bench_stage2.py                       # tiny, CPU
    python benchmarks/bench_stage2.py --real-size           # CUDA, all offload modes
    python benchmarks/bench_stage2.py --real-size --offload none --steps 5
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _rss_peak_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# ---------------------------------------------------------------------------------------------------------- tiny


def bench_tiny(args: argparse.Namespace) -> list[dict]:
    import numpy as np
    import torch

    from unison_agent.contract.plan import Plan
    from unison_agent.contract.settings import Settings
    from unison_agent.media.files import write_image
    from unison_agent.tiny.wan import build_tiny_vace
    from unison_agent.tools.generate import generate

    tmp = Path(tempfile.mkdtemp(prefix="bench_stage2_"))
    overrides = build_tiny_vace(tmp / "tiny")
    settings = Settings.resolve(
        {"home": str(tmp / "home"), "device": "cpu", "dtype": "float32", "steps": args.steps, **overrides}, env={}
    )
    image = write_image(tmp / "frame.png", np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    w, h, n = args.size or (64, 64, 9)
    plans = {
        "text_to_video": Plan(task="text_to_video", prompt="a bird", width=w, height=h, num_frames=n, fps=16),
        "image_to_video": Plan(
            task="image_to_video",
            prompt="make <IMGPAD> move",
            width=w,
            height=h,
            num_frames=n,
            fps=16,
            frame_anchor="first",
            inputs=[{"path": str(image), "kind": "image", "role": "frame"}],
        ),
    }
    tokens = torch.randn(1, 4, 32)
    generate(plans["text_to_video"], settings, cond_tokens=tokens, out_dir=tmp / "out", seed=0)  # warm-up + load
    rows = []
    for name, plan in plans.items():
        res = generate(plan, settings, cond_tokens=tokens, out_dir=tmp / "out", seed=0)
        rows.append(
            {
                "mode": "tiny",
                "task": name,
                "device": "cpu",
                "offload": "none",
                "size": f"{res.width}x{res.height}x{res.num_frames}",
                "steps": args.steps,
                "s_per_step": round(res.timings["per_step_s"], 4),
                "total_s": round(res.timings["total_s"], 3),
                "peak_gb": round(_rss_peak_gb(), 3),
                "peak_kind": "process RSS",
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------------- real size


def _real_pipeline(num_layers: int, dtype):
    """Wan2.1-VACE-1.3B-shaped transformer + Wan2.1 VAE with random weights (no text encoder)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel

    torch.manual_seed(0)
    vace_layers = list(range(0, num_layers, 2))
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=12,
        attention_head_dim=128,
        in_channels=16,
        out_channels=16,
        text_dim=4096,
        freq_dim=256,
        ffn_dim=8960,
        num_layers=num_layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
        rope_max_seq_len=1024,
        vace_layers=vace_layers,
        vace_in_channels=96,
    ).eval()
    # what from_pretrained(dtype=...) does: everything in `dtype` except the modules the model keeps in fp32
    keep = set(getattr(transformer, "_keep_in_fp32_modules", None) or ())
    for name, param in transformer.named_parameters():
        if not keep.intersection(name.split(".")):
            param.data = param.data.to(dtype)
    vae = AutoencoderKLWan(
        base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, temperal_downsample=[False, True, True]
    ).eval()  # the VAE stays in float32, as Wan runs it
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=5.0
    )
    pipe = WanVACEPipeline(tokenizer=None, text_encoder=None, vae=vae, scheduler=scheduler, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    params = sum(p.numel() for p in transformer.parameters())
    return pipe, params


def _context(prompt_len: int, dtype, device):
    """The method's context: prompt rows + 4 projector rows, zero-padded to 2048 positions (and the negative)."""
    import torch

    from unison_agent.models.conditioning import CONTEXT_LEN

    g = torch.Generator().manual_seed(1)
    cond = torch.zeros(1, CONTEXT_LEN, 4096)
    cond[:, : prompt_len + 4] = torch.randn(1, prompt_len + 4, 4096, generator=g) * 0.1
    neg = torch.zeros(1, CONTEXT_LEN, 4096)
    neg[:, :120] = torch.randn(1, 120, 4096, generator=g) * 0.1
    return cond.to(device, dtype), neg.to(device, dtype)


def forward_flops(
    tokens: int,
    num_layers: int,
    vace_blocks: int,
    dim: int = 1536,
    ffn: int = 8960,
    context: int = 2048,
    text_dim: int = 4096,
) -> float:
    """Matmul FLOPs of one transformer forward (one guidance branch): per block, self-attention projections
    (4 d^2 per token) and scores + values (4 N d per token), cross-attention (q/o: 2 d^2 per token; k/v over the
    context: 4 C d_text d... counted once per forward; scores 4 N C d), the FFN (4 d ffn per token); VACE blocks
    cost the same as a main block. x2 for multiply-add."""
    per_block = (4 * dim * dim + 4 * tokens * dim + 2 * dim * dim + 4 * context * dim + 4 * dim * ffn) * tokens
    per_block += 2 * context * text_dim * dim  # the context's k/v projections
    return 2.0 * per_block * (num_layers + vace_blocks)


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 frame stacks."""
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a, b) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03) over frames and channels."""
    import cv2
    import numpy as np

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for fa, fb in zip(a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:]), strict=True):
        for ch in range(fa.shape[-1]):
            x, y = fa[..., ch].astype(np.float64), fb[..., ch].astype(np.float64)
            blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
            mx, my = blur(x), blur(y)
            sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
            m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
            scores.append(float(m.mean()))
    return float(np.mean(scores))


def _configs(args: argparse.Namespace, device) -> list[dict]:
    offloads = (
        [args.offload]
        if args.offload
        else (["none", "model", "group", "sequential"] if device.type == "cuda" else ["none"])
    )
    compiles = [args.compile] if args.compile is not None else [False, True]
    fasts = [args.fast] if args.fast is not None else [False, True]
    return [{"offload": o, "compile": c, "fast": f} for o in offloads for c in compiles for f in fasts]


def bench_real(args: argparse.Namespace) -> list[dict]:
    import torch

    from unison_agent.models.vace_loader import place

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--real-size needs a CUDA GPU (or pass --device cpu with a small --size to smoke-test)")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    w, h, n = args.size or (832, 480, 81)
    tokens = ((n - 1) // 4 + 1) * (h // 16) * (w // 16)
    vace_blocks = len(range(0, args.num_layers, 2))
    floor_s = 2 * forward_flops(tokens, args.num_layers, vace_blocks) / (args.peak_tflops * 1e12)  # x2: guidance
    rows = []
    reference: dict[tuple, object] = {}  # (offload, compile) -> frames of the full (not fast) run, same seed
    for cfg in _configs(args, device):
        pipe, params = _real_pipeline(args.num_layers, dtype)
        place(pipe, cfg["offload"], device)
        if args.vae_tiling:
            pipe.vae.enable_tiling()
        if cfg["compile"]:
            pipe.transformer.compile_repeated_blocks(fullgraph=True)
        if cfg["fast"]:
            from diffusers.hooks import FirstBlockCacheConfig

            pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=args.fast_threshold))
        cond, neg = _context(60, dtype, device)
        step_times: list[float] = []
        last = [0.0]

        def callback(_p, i, _t, _kw, step_times=step_times, last=last):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            now = time.perf_counter()
            step_times.append(now - last[0])
            last[0] = now
            return {}

        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        last[0] = t0
        out = pipe(
            prompt_embeds=cond,
            negative_prompt_embeds=neg,
            height=h,
            width=w,
            num_frames=n,
            num_inference_steps=args.steps,
            guidance_scale=5.0,
            conditioning_scale=1.0,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
            callback_on_step_end=callback,
        )
        total = time.perf_counter() - t0
        frames = (out.frames[0] * 255).round().clip(0, 255).astype("uint8")
        # the first step includes VACE context encoding (two VAE encodes) and any compilation
        steady = step_times[1:] if len(step_times) > 1 else step_times
        per_step = sum(steady) / len(steady)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else _rss_peak_gb()
        row = {
            "mode": "real-size",
            "task": "text_to_video",
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            **cfg,
            "size": f"{frames.shape[2]}x{frames.shape[1]}x{frames.shape[0]}",
            "steps": args.steps,
            "transformer_params_m": round(params / 1e6, 1),
            "layers": args.num_layers,
            "tokens": tokens,
            "s_per_step": round(per_step, 3),
            "first_step_s": round(step_times[0], 3),
            "total_s": round(total, 2),
            "floor_s_per_step": round(floor_s, 3),
            "ratio_to_floor": round(per_step / floor_s, 2),
            "peak_gb": round(peak, 2),
            "peak_kind": "CUDA max allocated" if device.type == "cuda" else "process RSS",
        }
        key = (cfg["offload"], cfg["compile"])
        if not cfg["fast"]:
            reference[key] = frames
        elif key in reference:
            row["ssim_vs_full"] = round(ssim(frames, reference[key]), 4)
            row["psnr_vs_full_db"] = round(psnr(frames, reference[key]), 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del pipe, out
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


# ---------------------------------------------------------------------------------------------------------- main


def _size(text: str) -> tuple[int, int, int]:
    try:
        w, h, n = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 832x480x81, got {text!r}") from None
    return w, h, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-size", action="store_true", help="Wan2.1-VACE-1.3B-sized random transformer (CUDA)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (tiny: 4, real size: 3)")
    ap.add_argument("--size", type=_size, default=None, help="WxHxF (tiny: 64x64x9, real size: 832x480x81)")
    ap.add_argument(
        "--offload",
        choices=["none", "model", "group", "sequential"],
        default=None,
        help="one offload mode (default: all on CUDA, none on a CPU)",
    )
    ap.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="real size: regional torch.compile on (--compile) or off (--no-compile); default both",
    )
    ap.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="real size: first-block cache on or off; default both (fast rows report SSIM/PSNR vs full)",
    )
    ap.add_argument("--fast-threshold", type=float, default=0.05, help="first-block cache threshold (0.05)")
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=800.0,
        help="the device's reachable bf16 dense TFLOP/s for the FLOP-floor ratio (H100: ~800)",
    )
    ap.add_argument("--device", default="cuda", help="real size only: cuda (default) or cpu for a smoke test")
    ap.add_argument("--num-layers", type=int, default=30, help="real size only: transformer layers (30)")
    ap.add_argument("--vae-tiling", action="store_true", help="real size only: tiled VAE")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (tiny default 1: tiny models gain nothing from more, and a shared CPU "
        "makes spinning threads dozens of times slower)",
    )
    ap.add_argument("--json", action="store_true", help="print rows as JSON lines only")
    args = ap.parse_args(argv)
    threads = args.threads if args.threads is not None else (None if args.real_size else 1)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if args.steps is None:
        args.steps = 3 if args.real_size else 4
    rows = bench_real(args) if args.real_size else bench_tiny(args)
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(
        f"{'mode':<10} {'task':<15} {'device':<7} {'offload':<11} {'compile':<8} {'fast':<5} {'size':<12} "
        f"{'s/step':>8} {'x floor':>8} {'peak GB':>8} {'SSIM':>6} {'PSNR':>6}"
    )
    for r in rows:
        print(
            f"{r['mode']:<10} {r['task']:<15} {r['device']:<7} {r['offload']:<11} {r.get('compile', '-')!s:<8} "
            f"{r.get('fast', '-')!s:<5} {r['size']:<12} {r['s_per_step']:>8} {r.get('ratio_to_floor', '-')!s:>8} "
            f"{r['peak_gb']:>8} {r.get('ssim_vs_full', '-')!s:>6} {r.get('psnr_vs_full_db', '-')!s:>6}  "
            f"({r['peak_kind']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
