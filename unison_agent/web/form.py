"""The settings panel's generation fields as per-turn overrides.

The panel's fields are text boxes that start blank; blank means "the default" (the same value ``unison run`` uses
without the flag). A value is checked here, before the turn starts, so a value the generation would refuse is a
message beside the settings (the person's message is kept), never a failed turn.
"""

from __future__ import annotations

import math
from typing import Any

from unison_agent.contract.errors import SettingsError
from unison_agent.contract.settings import Settings

SEED_LIMIT = 2**63
"""Seeds run from 0 to 2**63-1 (``unison_agent.models.pipeline.pick_seed``)."""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _whole(name: str, value: Any, *, low: int, high: int | None, hint: str) -> int:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise SettingsError(f"{name}: {text!r} is not a whole number; {hint}")
    whole = int(number)
    if whole < low or (high is not None and whole >= high):
        bound = f"at least {low}" if high is None else f"between {low} and {high - 1}"
        raise SettingsError(f"{name} must be {bound}, got {whole}; {hint}")
    return whole


def generation_overrides(
    settings: Settings, *, steps: Any = None, guidance: Any = None, seed: Any = None, verify: Any = None
) -> dict[str, Any]:
    """The panel's values as overrides for ``Session.send``: blank fields are left out (the defaults of
    ``settings`` apply); a value the generation would refuse raises :class:`SettingsError` naming the field, what
    it accepts and that blank means the default."""
    overrides: dict[str, Any] = {}
    if not _blank(steps):
        overrides["steps"] = _whole(
            "steps", steps, low=1, high=None, hint=f"leave it blank for the default ({settings.steps})"
        )
    if not _blank(guidance):
        text = str(guidance).strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise SettingsError(
                f"guidance: {text!r} is not a number of 0 or more; leave it blank for the default ({settings.guidance})"
            )
        overrides["guidance"] = value
    if not _blank(seed):
        overrides["seed"] = _whole("seed", seed, low=0, high=SEED_LIMIT, hint="leave it blank for a random seed")
    if not _blank(verify):
        overrides["verify_attempts"] = _whole(
            "check outputs",
            verify,
            low=0,
            high=None,
            hint=f"0 switches checking off; leave it blank for the default ({settings.verify_attempts})",
        )
    return overrides
