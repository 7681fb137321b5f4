"""`unison annotate KIND INPUT [--target TEXT] [--demo] -o OUT`: run one annotator alone (PNG/MP4 out)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "annotate"
HELP = "run one annotator (depth, pose, canny, gray, flow, scribble, mask, salient, ...) on an image or video"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", help="annotator kind (see `unison annotate --list`)", nargs="?")
    parser.add_argument("input", help="image or video file", nargs="?")
    parser.add_argument("-o", "--output", help="output file (.png for images, .mp4 for videos)")
    parser.add_argument("--target", help="for masks: what to segment, e.g. 'the bird'")
    parser.add_argument("--list", action="store_true", help="list the annotator kinds and exit")


def run(args: argparse.Namespace, settings, console) -> int:
    from ..errors import UnisonError
    from ..media import check_file
    from ..tools.annotate import ANNOTATORS, run_annotator

    if args.list or not args.kind:
        for kind in ANNOTATORS:
            console.print(kind)
        return 0 if args.list else 2
    if args.kind not in ANNOTATORS:
        raise UnisonError(f"unknown annotator {args.kind!r}; choose one of {', '.join(ANNOTATORS)}")
    if not args.input:
        raise UnisonError("annotate needs an INPUT image or video")
    info = check_file(args.input)
    out = Path(args.output) if args.output else Path(args.input).with_name(
        f"{Path(args.input).stem}.{args.kind}{'.png' if info.kind == 'image' else '.mp4'}"
    )
    if settings.demo:
        from ..demo import demo_settings

        settings = demo_settings(settings)
    path = run_annotator(args.kind, Path(args.input), out, settings, target=args.target)
    console.print(f"wrote {path}" + (" (demo weights: random tiny models)" if settings.demo else ""))
    return 0
