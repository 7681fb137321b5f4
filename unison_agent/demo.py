"""Demo mode and weight checks.

``demo_settings(settings)`` builds tiny randomly initialised models (Qwen2.5-VL planner + LoRA + projector,
Wan2.1-VACE; annotators under ``annotators/``) once into ``settings.demo_dir`` and returns settings that point at them, with the rules
planner and fast generation defaults (2 steps; 128x128 unless the request gives a size). Demo outputs are noise:
the point is to exercise the whole pipeline on any machine.

``missing_weights(settings, need)`` / ``require_weights(settings, need)`` tell which published checkpoints are
absent and what to do (``unison download`` or ``--demo``).
"""

from __future__ import annotations

from pathlib import Path

from .errors import WeightsError
from .settings import Settings

DEMO_STEPS = 2
DEMO_WIDTH = 128
DEMO_HEIGHT = 128
DEMO_MAX_NEW_TOKENS = 48
DEMO_NOTE = "demo mode: tiny random-weight models (outputs are noise), 2 steps, 128x128 unless a size was given"

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


def demo_settings(settings: Settings) -> Settings:
    """Settings pointing at the tiny demo models (built once into ``settings.demo_dir``)."""
    from .tiny.annotators import build_tiny_annotators
    from .tiny.qwen import build_tiny_qwen
    from .tiny.wan import build_tiny_vace

    root = Path(settings.demo_dir)
    root.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = {}
    overrides.update(build_tiny_qwen(root))
    overrides.update(build_tiny_vace(root))
    overrides.update(build_tiny_annotators(root / "annotators"))
    overrides["planner"] = "rules"
    overrides["demo"] = True
    if settings.steps == Settings.model_fields["steps"].default:
        overrides["steps"] = DEMO_STEPS
    if settings.max_new_tokens == Settings.model_fields["max_new_tokens"].default:
        overrides["max_new_tokens"] = DEMO_MAX_NEW_TOKENS  # a random model's answer is noise: keep it short
    if settings.device == "auto":
        overrides["device"] = "cpu"  # tiny models: a GPU only adds start-up time
    return settings.replace(**overrides)


def is_present(settings: Settings, name: str) -> bool:
    """Whether the checkpoint a setting names exists on disk (directory with files, or a file)."""
    try:
        path = settings.checkpoint(name)
    except Exception:
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
