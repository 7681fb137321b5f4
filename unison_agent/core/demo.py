"""Demo mode: tiny random-weight models and small, fast defaults, so the whole pipeline runs on any machine.

Demo mode enters at the faces only (the CLI's entry, the LangChain tool, the LangGraph server factory), each
applying it once; the core (``Session``, the graph) takes the settings as given.

``demo_settings(settings)`` builds tiny randomly initialised models (Qwen2.5-VL planner + LoRA + projector,
Wan2.1-VACE; annotators under ``annotators/``) once into ``settings.demo_dir`` and returns settings that point at them, with the rules
planner and fast generation defaults (2 steps; 128x128 unless the request gives a size). Demo outputs are noise:
the point is to exercise the whole pipeline on any machine.

Weight checks (what is missing, what to do) live in :mod:`unison_agent.models.weights`.
"""

from __future__ import annotations

from pathlib import Path

from unison_agent.contract.settings import Settings

DEMO_STEPS = 2
DEMO_WIDTH = 128
DEMO_HEIGHT = 128
DEMO_MAX_NEW_TOKENS = 48
DEMO_NOTE = "demo mode: tiny random-weight models (outputs are noise)"
_METHOD = Settings.model_fields


def demo_defaults(settings: Settings, *, keep: frozenset[str] = frozenset()) -> Settings:
    """The demo's values (rules planner, 2 steps, 128x128 unless asked otherwise, CPU) without building models:
    only values still at the method's defaults change, so applying it twice changes nothing. ``keep``: settings the
    person stated (flags, environment), which the demo leaves as they are (``--demo --planner unison``)."""
    overrides: dict[str, object] = {"demo": True}
    if "planner" not in keep:
        overrides["planner"] = "rules"
    small = {
        "steps": DEMO_STEPS,
        "default_width": DEMO_WIDTH,
        "default_height": DEMO_HEIGHT,
        "max_new_tokens": DEMO_MAX_NEW_TOKENS,  # a random model's answer is noise: keep it short
        "device": "cpu",  # tiny models: a GPU only adds start-up time
    }
    for name, value in small.items():
        if name not in keep and getattr(settings, name) == _METHOD[name].default:
            overrides[name] = value
    return settings.replace(**overrides)


def demo_ready(settings: Settings) -> bool:
    """Whether :func:`demo_settings` already ran on these settings (they point at the tiny models): a face that
    may receive settings another face prepared (the LangChain tool under ``unison mcp``) applies demo mode once."""
    return bool(settings.demo) and Path(settings.vace).expanduser().is_relative_to(Path(settings.demo_dir))


def demo_settings(settings: Settings, *, keep: frozenset[str] = frozenset()) -> Settings:
    """:func:`demo_defaults` plus the tiny demo models (built once into ``settings.demo_dir``); idempotent.
    ``keep``: settings the person stated, left as they are (``--demo --unison ~/adapters/mine`` plans with their
    adapter on the tiny base model)."""
    from unison_agent.core.progress import quiet_library_bars
    from unison_agent.tiny.annotators import build_tiny_annotators
    from unison_agent.tiny.qwen import build_tiny_qwen
    from unison_agent.tiny.wan import build_tiny_vace

    quiet_library_bars("transformers", "diffusers", "huggingface_hub")  # "Writing model shards" while building
    root = Path(settings.demo_dir)
    root.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = {}
    overrides.update(build_tiny_qwen(root))
    overrides.update(build_tiny_vace(root))
    overrides.update(build_tiny_annotators(root / "annotators"))
    overrides = {k: v for k, v in overrides.items() if k not in keep}
    if keep & {"qwen", "unison"}:  # the person's planner weights: not the demo's merged planner in their place
        overrides.pop("planner_merged", None)
    return demo_defaults(settings, keep=keep).replace(**overrides)
