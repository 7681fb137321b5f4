"""`unison annotate KIND INPUT [--target TEXT] [--demo] -o OUT`: run one annotator alone (PNG/MP4 out)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "annotate"
HELP = "run one annotator (depth, pose, canny, gray, flow, scribble, mask, salient, ...) on an image or video"


SETTINGS = ("home", "device", "dtype", "demo")
"""The setting flags this command uses."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", help="annotator kind (see `unison annotate --list`)", nargs="?")
    parser.add_argument("input", help="image or video file", nargs="?")
    parser.add_argument("-o", "--output", help="output file (.png for images, .mp4 for videos)")
    parser.add_argument("--target", help="for masks: what to segment, e.g. 'the bird'")
    parser.add_argument("--force", action="store_true", help="replace an existing output file (never the input)")
    parser.add_argument("--list", action="store_true", help="list the annotator kinds and exit")


def refuse_overwrite(inputs: list[str], out: Path, *, shown: str, force: bool, suffixes: tuple[str, ...] = ()) -> None:
    """Never overwrite what the person gave: an output equal to an input (or to an input's sidecar) is refused
    always; an existing output or sidecar without ``--force``. Messages name the paths as they were given."""
    from unison_agent.contract.errors import UnisonError

    outs = [out] if out.suffix else [out.with_suffix(s) for s in suffixes]
    given = {Path(i).expanduser().resolve(): i for i in inputs}
    for o in outs:
        for target in (o, o.with_suffix(".json")):
            resolved = target.expanduser().resolve()
            if resolved in given:
                raise UnisonError(f"-o {shown} would overwrite the input {given[resolved]}; choose another output file")
            if target.exists() and not force:
                raise UnisonError(
                    f"-o {shown}: {target} already exists; choose another output file, or add --force to replace it"
                )


def run(args: argparse.Namespace, settings, console) -> int:
    from unison_agent.contract.errors import UnisonError
    from unison_agent.media.files import MediaLimits, check_file
    from unison_agent.tools.annotate import ANNOTATORS, annotate_file

    if args.list or not args.kind:
        for kind, annotator in ANNOTATORS.items():
            print(f"{kind:15} {annotator.description}")
        return 0 if args.list else 2
    if args.kind not in ANNOTATORS:
        raise UnisonError(f"unknown annotator {args.kind!r}; choose one of {', '.join(ANNOTATORS)}")
    if not args.input:
        raise UnisonError("annotate needs an INPUT image or video")
    check_file(args.input, MediaLimits.from_settings(settings))
    # without -o: "<input>_<kind>" beside the input, the extension (.png / .mp4) chosen by the annotator
    out = Path(args.output) if args.output else Path(args.input).with_name(f"{Path(args.input).stem}_{args.kind}")
    refuse_overwrite([args.input], out, shown=args.output or str(out), force=args.force, suffixes=(".png", ".mp4"))
    result = annotate_file(args.kind, Path(args.input), out, settings, target=args.target)
    demo = " (demo weights: random tiny models)" if settings.demo else ""
    console.print(f"wrote {result.path}{demo}", highlight=False, markup=False, soft_wrap=True)
    for name, path in result.extra.items():
        console.print(f"wrote {path} ({name})", highlight=False, markup=False, soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    return 0
