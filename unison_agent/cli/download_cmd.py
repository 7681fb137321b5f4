"""`unison download [--only NAME ...] [--list]`: fetch the published checkpoints into settings.models_dir/<id>.

Uses ``huggingface_hub.snapshot_download`` (resumable: run it again after an interruption and it continues;
files already complete are skipped). Settings that point at a local directory are left alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unison_agent.contract.errors import WeightsError

NAME = "download"
NEEDS_MODELS = False
HELP = "download the published weights (Qwen2.5-VL, Unison LoRA + projector, Wan2.1-VACE, annotators)"

# settings field -> what it is
CHECKPOINTS: dict[str, str] = {
    "qwen": "Qwen2.5-VL-3B-Instruct (planner base, understanding)",
    "unison": "Unison planning LoRA + projector.pth",
    "vace": "Wan2.1-VACE-1.3B (diffusers layout)",
    "depth_model": "Depth-Anything-V2 (depth annotator)",
    "pose_model": "ViTPose (pose annotator)",
    "person_model": "RT-DETR (person boxes for pose)",
    "grounding_model": "Grounding DINO (text -> boxes for masks)",
    "sam2_model": "SAM 2.1 (masks, video propagation)",
}


SETTINGS = ("home", "qwen", "unison", "vace")
"""The setting flags this command uses."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=sorted(CHECKPOINTS),
        help=f"download only these ({', '.join(CHECKPOINTS)})",
    )
    parser.add_argument("--list", action="store_true", help="list what would be downloaded, and where, then exit")


def plan_downloads(settings, names=None) -> list[tuple[str, str, Path, bool]]:
    """(setting, hub id, target dir, local) for each checkpoint; ``local`` = the setting is an existing path."""
    out = []
    for name in names or CHECKPOINTS:
        value = getattr(settings, name)
        local = Path(value).expanduser().exists()
        out.append((name, value, settings.checkpoint(name) if local else settings.models_dir / value, local))
    return out


def download_one(repo_id: str, target: Path) -> Path:
    """snapshot_download into ``target``; WeightsError with what to do when the hub cannot be reached."""
    import huggingface_hub

    target.mkdir(parents=True, exist_ok=True)
    try:
        path = huggingface_hub.snapshot_download(repo_id=repo_id, local_dir=str(target))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        raise WeightsError(
            f"could not download {repo_id} into {target}: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
            f"The Hugging Face hub is not reachable from here (offline, HF_HUB_OFFLINE=1, a proxy, or HF_ENDPOINT). "
            f"Run `unison download` again where it is reachable (it resumes), or copy the files of {repo_id} into {target}."
        ) from None
    return Path(path)


def run(args: argparse.Namespace, settings, console) -> int:
    from rich.markup import escape

    jobs = plan_downloads(settings, args.only)
    if args.list:
        for name, repo, target, local in jobs:
            where = f"local: {target}" if local else f"{repo} -> {target}"
            console.print(f"{name:<16} {escape(where)}  ({CHECKPOINTS[name]})", highlight=False)
        return 0
    done = 0
    for i, (name, repo, target, local) in enumerate(jobs, 1):
        if local:
            console.print(f"[{i}/{len(jobs)}] {name}: uses the local path {escape(str(target))}, nothing to download")
            continue
        console.print(f"[{i}/{len(jobs)}] {escape(repo)} -> {escape(str(target))}  ({CHECKPOINTS[name]})")
        download_one(repo, target)
        done += 1
    console.print(f"[green]done[/]: {done} checkpoint(s) in {escape(str(settings.models_dir))}")
    return 0
