"""Benchmark long videos: seconds per window and per output second for 1, 2 and 4 windows (issue 22).

Runs text-to-video requests through ``Session`` on the tiny demo kit (CPU smoke) with ``--window-frames`` /
``--window-overlap`` windows, and prints, from each output's sidecar, the windows made, the seconds each took and
the seconds per output second. The cost per extra window should stay flat.

    python benchmarks/bench_long.py --size 64x64 --window-frames 13 --window-overlap 5 --steps 2   # CPU smoke
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--window-frames", type=int, default=13)
    parser.add_argument("--window-overlap", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--windows", default="1,2,4")
    args = parser.parse_args(argv)

    from unison_agent.contract.settings import Settings
    from unison_agent.core.session import Session

    width, height = (int(v) for v in args.size.split("x"))
    home = Path(tempfile.mkdtemp(prefix="bench_long_"))
    settings = Settings.resolve(
        {
            "home": str(home),
            "demo": True,
            "steps": args.steps,
            "window_frames": args.window_frames,
            "window_overlap": args.window_overlap,
        },
        env={},
    )
    from unison_agent.core.demo import demo_settings

    session = Session(demo_settings(settings), thread="bench-long")  # demo mode enters at the face: here
    session.send("make a 1-second video of a lake", overrides={"width": width, "height": height, "num_frames": 5})
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
        print(f"{len(calls):>7} {frames:>6} {wall:>8.2f} {per_window:>9.2f} {wall / ((frames - 1) / 16):>10.2f}")
    session.close()


if __name__ == "__main__":
    main()
