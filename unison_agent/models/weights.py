"""Which published checkpoints a kind of work needs, whether they are here, and what to do when they are not."""

from __future__ import annotations

from pathlib import Path

from unison_agent.contract.errors import SettingsError, WeightsError
from unison_agent.contract.settings import Settings

# What each kind of work needs: settings field -> what it is for.
NEEDS: dict[str, dict[str, str]] = {
    "understanding": {"qwen": "Qwen2.5-VL (understanding)"},
    "planning": {"qwen": "Qwen2.5-VL (planner base)", "unison": "Unison planning LoRA + projector"},
    "generation": {"vace": "Wan2.1-VACE (generation)"},
    "annotation": {
        "depth_model": "Depth-Anything-V2",
        "pose_model": "ViTPose",
        "person_model": "RT-DETR person detector",
        "grounding_model": "Grounding DINO",
        "sam2_model": "SAM 2.1",
    },
}


def is_present(settings: Settings, name: str) -> bool:
    """Whether the checkpoint a setting names exists on disk (directory with files, or a file)."""
    try:
        path = settings.checkpoint(name)
    except SettingsError:  # the setting is not set (an optional checkpoint)
        return False
    if path.is_dir():
        return any(path.iterdir())
    return path.is_file()


def missing_weights(settings: Settings, need: str) -> dict[str, Path]:
    """{setting name: expected path} of the absent checkpoints ``need`` requires (see ``NEEDS``)."""
    missing: dict[str, Path] = {}
    for name in NEEDS[need]:
        if need == "understanding" and settings.planner_merged and is_present(settings, "planner_merged"):
            continue
        if not is_present(settings, name):
            missing[name] = settings.checkpoint(name)
    return missing


def require_weights(settings: Settings, need: str) -> None:
    """WeightsError naming the missing checkpoints and the two ways out (download, or --demo)."""
    missing = missing_weights(settings, need)
    if not missing:
        return
    lines = ", ".join(f"{NEEDS[need][k]} ({getattr(settings, k)} expected at {p})" for k, p in missing.items())
    raise WeightsError(
        f"{need} needs weights that are not here: {lines}. Run `unison download` to fetch them, "
        f"or add --demo to try the whole pipeline with tiny random-weight models."
    )
