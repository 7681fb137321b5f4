"""Benchmark a whole request on random weights of the published shapes: plan -> encode -> denoise -> decode -> write.

Builds (once, into ``--kit-dir``) the published-shape kit of :mod:`unison_agent.tiny.published` — Qwen2.5-VL-3B with
the Unison LoRA and projector, umT5-XXL, Wan2.1-VACE-1.3B and the Wan VAE — at full depth (``--depth full``, written
in bf16; ~25 GB on disk) or one layer per stack (``--depth 1``, the CI smoke kit), then runs one request through
``Session`` with the projector tokens and the residency manager (``--vram-budget``), and prints the stage timings from
the output's sidecar, the Unison planner's time for the request, the wall time and peak GPU memory. Random planner
weights emit random tokens, so the planner is timed on its own (≤ ``--plan-tokens`` tokens) and the request is
routed by the rules planner; the planner model still makes the projector's input inside the request.

    python benchmarks/bench_request.py --depth full --size 832x480x81              # CUDA: the issue's figure
    python benchmarks/bench_request.py --depth full --vram-budget 24                # as on a 24 GB GPU
    python benchmarks/bench_request.py --depth full --offload group
    python benchmarks/bench_request.py --depth 1 --device cpu --size 64x64x5 --steps 1 --plan-tokens 4  # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_stage2 import _size  # noqa: E402  (the benchmarks folder is the script's own path entry)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", choices=["full", "1"], default="full", help="published depth, or one layer per stack")
    ap.add_argument("--kit-dir", default=None, help="where the kit is built once (default: a folder under /tmp)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke test")
    ap.add_argument("--size", type=_size, default=(832, 480, 81), help="WxHxF (832x480x81)")
    ap.add_argument("--steps", type=int, default=50, help="denoising steps (the method's 50)")
    ap.add_argument("--offload", choices=["none", "model", "group", "sequential"], default="none")
    ap.add_argument("--vram-budget", type=float, default=None, help="GB the models may hold at once")
    ap.add_argument("--compile", action="store_true", help="regional torch.compile")
    ap.add_argument("--fast", action="store_true", help="first-block cache")
    ap.add_argument("--plan-tokens", type=int, default=64, help="tokens the timed Unison plan may generate (64)")
    ap.add_argument("--prompt", default="make a video of a red fox trotting through fresh snow at dawn")
    args = ap.parse_args(argv)

    import torch

    from unison_agent.contract.settings import Settings
    from unison_agent.core.session import Session
    from unison_agent.tiny.published import FULL_DEPTH, SMOKE_DEPTH, build_published_kit

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: pass --device cpu --depth 1 --size 64x64x5 --steps 1 for a smoke test")
    kit_dir = Path(args.kit_dir or Path(tempfile.gettempdir()) / f"unison-published-kit-{args.depth}")
    t0 = time.perf_counter()
    kit = build_published_kit(kit_dir, FULL_DEPTH if args.depth == "full" else SMOKE_DEPTH)
    build_s = time.perf_counter() - t0
    home = Path(tempfile.mkdtemp(prefix="bench_request_"))
    settings = Settings.resolve(
        {
            "home": str(home),
            "device": args.device,
            "planner": "rules",
            "steps": args.steps,
            "offload": args.offload,
            "vram_budget": args.vram_budget,
            "compile": args.compile,
            "fast": args.fast,
            **kit,
        },
        env={},
    )
    w, h, n = args.size
    marks: dict[str, float] = {}

    def on_event(e: dict) -> None:
        if e.get("event") == "node" and e["node"] not in marks:
            marks[e["node"]] = time.perf_counter()

    from unison_agent.planners import get_planner
    from unison_agent.planners.base import Request

    planner = get_planner("unison", settings)
    planner.max_new_tokens = args.plan_tokens
    planner.plan(Request.parse(args.prompt))  # loads the planner (and warms it up)
    t = time.perf_counter()
    planner.plan(Request.parse(args.prompt))
    unison_plan_s = time.perf_counter() - t
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    session = Session(settings, thread="bench")
    start = time.perf_counter()
    result = session.send(args.prompt, overrides={"width": w, "height": h, "num_frames": n}, on_event=on_event)
    wall = time.perf_counter() - start
    if not result.ok:
        print(json.dumps({"errors": result.errors}), file=sys.stderr)
        return 1
    side = json.loads(Path(result.results[0]["sidecars"][0]).read_text())
    row = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "depth": args.depth,
        "size": f"{side['width']}x{side['height']}x{side['num_frames']}",
        "steps": args.steps,
        "offload": args.offload,
        "vram_budget_gb": args.vram_budget,
        "compile": args.compile,
        "fast": args.fast,
        "unison_plan_s": round(unison_plan_s, 3),
        "prepare_s": round(marks["prepare"] - start, 3),
        **{k: round(v, 2) for k, v in side["timings"].items()},
        "wall_s": round(wall, 2),
        "peak_gb": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
        "kit_build_s": round(build_s, 1),
        "task": side["plan"]["task"],
        "projector_tokens": side["projector_tokens"],
    }
    session.close()
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
