"""Benchmark long videos: seconds per window and per output second for 1, 2 and 4 windows (issue 22).

Runs text-to-video requests through ``Session`` with ``--window-frames`` / ``--window-overlap`` windows, and prints,
from each output's sidecar, the windows made, the seconds each took and the seconds per output second. The cost per
extra window should stay flat.

- default: the tiny demo kit (CPU smoke);
- ``--real-size``: the published-shape kit of :mod:`unison_agent.tiny.published` (random weights; ``--depth full``
  the published depths in bf16, ``--depth 1`` one layer per stack), 832x480, 81-frame windows with 17 kept, on CUDA
  unless ``--device`` says otherwise. The method's 50 steps are the default there; ``--steps`` lowers it to fit a
  time budget (the per-window ratio is what matters).

    python benchmarks/bench_long.py --size 64x64 --window-frames 13 --window-overlap 5 --steps 2   # CPU smoke
    python benchmarks/bench_long.py --real-size --depth full --steps 10                             # GPU
    python benchmarks/bench_long.py --real-size --depth 1 --device cpu --size 64x64 --window-frames 13 \\
        --window-overlap 5 --steps 1 --windows 1,2                                                  # its CPU smoke
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


def frames_for(windows: int, frames: int, overlap: int) -> int:
    """The video length that takes exactly ``windows`` windows."""
    return frames + (windows - 1) * (frames - overlap)


def _settings(args, home: Path):
    from unison_agent.contract.settings import Settings

    values = {
        "home": str(home),
        "steps": args.steps,
        "window_frames": args.window_frames,
        "window_overlap": args.window_overlap,
    }
    if not args.real_size:
        from unison_agent.core.demo import demo_settings

        return demo_settings(Settings.resolve({**values, "demo": True}, env={}))  # demo mode enters here
    from unison_agent.tiny.published import FULL_DEPTH, SMOKE_DEPTH, build_published_kit

    kit_dir = Path(args.kit_dir or Path(tempfile.gettempdir()) / f"unison-published-kit-{args.depth}")
    kit = build_published_kit(kit_dir, FULL_DEPTH if args.depth == "full" else SMOKE_DEPTH)
    return Settings.resolve({**values, "device": args.device, "planner": "rules", **kit}, env={})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-size", action="store_true", help="the published-shape kit (random weights)")
    parser.add_argument("--depth", choices=["full", "1"], default="full", help="real size: layers per stack")
    parser.add_argument("--kit-dir", default=None, help="real size: where the kit is built once")
    parser.add_argument("--device", default="cuda", help="real size: cuda (default) or cpu for a smoke test")
    parser.add_argument("--size", default=None, help="WxH (tiny: 64x64, real size: 832x480)")
    parser.add_argument("--window-frames", type=int, default=None, help="tiny: 13, real size: 81")
    parser.add_argument("--window-overlap", type=int, default=None, help="tiny: 5, real size: 17")
    parser.add_argument("--steps", type=int, default=None, help="tiny: 2, real size: 50")
    parser.add_argument("--windows", default="1,2,4")
    parser.add_argument("--json", action="store_true", help="print rows as JSON lines")
    args = parser.parse_args(argv)
    real = args.real_size
    args.size = args.size or ("832x480" if real else "64x64")
    args.window_frames = args.window_frames or (81 if real else 13)
    args.window_overlap = args.window_overlap or (17 if real else 5)
    args.steps = args.steps or (50 if real else 2)

    from unison_agent.core.session import Session

    width, height = (int(v) for v in args.size.split("x"))
    t0 = time.perf_counter()
    settings = _settings(args, Path(tempfile.mkdtemp(prefix="bench_long_")))
    build_s = time.perf_counter() - t0
    device = "cpu"
    if real and args.device.startswith("cuda"):
        import torch

        device = torch.cuda.get_device_name(torch.device(args.device))
    session = Session(settings, thread="bench-long")
    session.send("make a video of a lake", overrides={"width": width, "height": height, "num_frames": 5})  # warm-up
    if not args.json:
        print(f"# {device}, {'published shapes, depth ' + args.depth if real else 'tiny demo kit'}, {width}x{height}")
        print(f"# windows of {args.window_frames} frames ({args.window_overlap} kept), {args.steps} steps")
        print(f"{'windows':>7} {'frames':>6} {'wall s':>8} {'s/window':>9} {'s/output s':>10}")
    for n in (int(v) for v in args.windows.split(",")):
        frames = frames_for(n, args.window_frames, args.window_overlap)
        t0 = time.perf_counter()
        r = session.send(
            "make a video of a lake at dawn",
            overrides={"width": width, "height": height, "num_frames": frames, "seed": 1},
        )
        wall = time.perf_counter() - t0
        if not r.ok:
            raise SystemExit(r.answer)
        side = json.loads(Path(r.results[-1]["sidecars"][0]).read_text())
        calls = (side.get("windows") or {}).get("calls") or [
            {"seconds": side["timings"].get("denoise_s", 0) + side["timings"].get("decode_s", 0)}
        ]
        per_window = sum(c["seconds"] for c in calls) / len(calls)
        row = {
            "device": device,
            "kit": f"published depth {args.depth}" if real else "tiny",
            "size": f"{width}x{height}",
            "window_frames": args.window_frames,
            "overlap": args.window_overlap,
            "steps": args.steps,
            "windows": len(calls),
            "frames": frames,
            "wall_s": round(wall, 2),
            "s_per_window": round(per_window, 2),
            "s_per_output_s": round(wall / ((frames - 1) / 16), 2),
            "kit_build_s": round(build_s, 1),
        }
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{len(calls):>7} {frames:>6} {wall:>8.2f} {per_window:>9.2f} {row['s_per_output_s']:>10.2f}",
                flush=True,
            )
    session.close()


if __name__ == "__main__":
    main()
