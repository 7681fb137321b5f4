"""Planner backends: rules (deterministic), qwen (base Instruct + JSON schema), unison (the planning LoRA)."""
