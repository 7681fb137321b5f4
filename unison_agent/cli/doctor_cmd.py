"""`unison doctor [--json] [--demo]`: Python, torch, CUDA, flash-attn, which weights are present, what runs where."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

NAME = "doctor"
HELP = "check the installation: Python, torch, CUDA, flash-attn, weights present, which planner/device will be used"


SETTINGS = ("home", "planner", "device", "dtype", "qwen", "unison", "planner_merged", "projector", "vace", "demo")
"""The setting flags this command uses."""

PACKAGES = ("torch", "transformers", "diffusers", "peft", "accelerate", "langgraph", "xgrammar", "mcp", "ray", "gradio")
"""Distributions whose versions doctor reports (None: not installed)."""


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Each distribution's installed version, read from its metadata (no import: a module need not say it)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def collect(settings) -> dict[str, Any]:
    """The doctor's findings as a dict (also used by tests)."""
    import importlib.util

    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "demo": settings.demo,
        "paths": {
            k: str(getattr(settings, k)) for k in ("home", "models_dir", "outputs_dir", "threads_db", "demo_dir")
        },
    }
    try:
        import torch

        cuda = torch.cuda.is_available()
        report["torch"] = torch.__version__
        report["cuda"] = {
            "available": cuda,
            "version": torch.version.cuda,
            "devices": [
                {
                    "name": torch.cuda.get_device_name(i),
                    "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
                }
                for i in range(torch.cuda.device_count())
            ]
            if cuda
            else [],
            "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        }
        report["mps"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    except ImportError:
        report["torch"] = None
        report["cuda"] = {"available": False, "devices": []}
    report["flash_attn"] = importlib.util.find_spec("flash_attn") is not None
    report["packages"] = package_versions(PACKAGES)

    from unison_agent.models.weights import NEEDS, is_present

    weights = {}
    for fields in NEEDS.values():
        for name, what in fields.items():
            weights[name] = {
                "what": what,
                "value": getattr(settings, name),
                "path": str(settings.checkpoint(name)),
                "present": is_present(settings, name),
            }
    report["weights"] = weights
    try:
        from unison_agent.models.qwen_loader import weights_status

        stage1 = weights_status(settings)
        report["stage_one"] = {k: v for k, v in stage1.items() if k not in ("paths",)}
    except Exception as exc:  # stage one missing or broken: say so, do not crash the doctor
        report["stage_one"] = {"error": str(exc)}
    report["plan"] = where(settings, report)
    return report


def where(settings, report: dict[str, Any]) -> dict[str, str]:
    """What will run where, in words."""
    out: dict[str, str] = {}
    try:
        from unison_agent.models.registry import pick_attention, pick_device, pick_dtype

        device = pick_device(settings)
        out["device"] = f"{device} ({pick_dtype(settings, device)}, attention: {pick_attention(settings, device)})"
    except Exception as exc:
        out["device"] = f"unavailable: {exc}"
    stage1 = report.get("stage_one", {})
    if settings.planner == "rules" or settings.demo:
        out["planner"] = "rules (deterministic)"
    elif settings.planner == "auto":
        out["planner"] = (
            "unison (planning LoRA)"
            if stage1.get("unison")
            else "qwen (base Instruct, constrained JSON)"
            if stage1.get("qwen")
            else "rules (no planner weights found)"
        )
    else:
        out["planner"] = settings.planner
    w = report["weights"]
    out["understanding"] = "Qwen2.5-VL" if w["qwen"]["present"] else "missing weights (unison download, or --demo)"
    out["generation"] = (
        ("Wan2.1-VACE" + (" + projector tokens" if stage1.get("projector") else " (text only: no projector)"))
        if w["vace"]["present"]
        else "missing weights (unison download, or --demo)"
    )
    missing = [
        n for n in ("depth_model", "pose_model", "person_model", "grounding_model", "sam2_model") if not w[n]["present"]
    ]
    out["annotators"] = "all present" if not missing else f"missing: {', '.join(missing)} (classic ones need none)"
    return out


def run(args: argparse.Namespace, settings, console) -> int:
    from rich.markup import escape
    from rich.table import Table

    report = collect(settings)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=str))
        return 0
    cuda = report["cuda"]
    devices = ", ".join(f"{d['name']} ({d['memory_gib']} GiB)" for d in cuda.get("devices", [])) or "none"
    console.print(f"Python {report['python']} on {escape(report['platform'])}")
    console.print(
        f"torch {report['torch']}; CUDA available: {cuda['available']} (devices: {escape(devices)}); "
        f"flash-attn installed: {report['flash_attn']}; MPS: {report.get('mps', False)}"
    )
    console.print("packages: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in report["packages"].items()))
    table = Table("weights", "what", "present", title="weights" + (" (demo)" if settings.demo else ""))
    table.add_column("path", overflow="fold")
    for name, info in report["weights"].items():
        table.add_row(name, info["what"], "[green]yes[/]" if info["present"] else "[red]no[/]", escape(info["path"]))
    console.print(table)
    plan = Table("part", "runs as", title="what will run where")
    for k, v in report["plan"].items():
        plan.add_row(k, escape(v))
    console.print(plan)
    if not all(i["present"] for i in report["weights"].values()) and not settings.demo:
        console.print("Missing weights: run `unison download`, or try everything with tiny models: add --demo.")
    return 0
