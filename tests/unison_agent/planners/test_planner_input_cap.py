"""Every planner input is bounded: over ``max_input_tokens`` the Unison and Qwen planners and the projector encoding
refuse at once with the setting's name, and the model's ``generate`` / forward is never called."""

from __future__ import annotations

import pytest

from unison_agent.contract.errors import UnisonError
from unison_agent.planners.base import Request
from unison_agent.planners.qwen import QwenPlanner
from unison_agent.planners.unison import UnisonPlanner


@pytest.fixture
def long_request():
    return Request.parse("make a video of a cat " + "walking slowly " * 200)


@pytest.mark.parametrize("make", [lambda s: UnisonPlanner(s, max_new_tokens=4), QwenPlanner])
def test_planners_refuse_an_input_over_the_cap_before_generating(s1_settings, long_request, monkeypatch, make):
    from unison_agent.models.qwen_loader import load_planner

    planner = make(s1_settings.replace(max_input_tokens=64))
    model = type(load_planner(s1_settings.replace(max_input_tokens=64), "base").model)
    calls = []
    monkeypatch.setattr(model, "generate", lambda *a, **k: calls.append(1))
    with pytest.raises(UnisonError, match="max_input_tokens"):
        planner.plan(long_request)
    assert not calls
    monkeypatch.undo()
    assert make(s1_settings).plan(Request.parse("make a video of a cat")).task is not None  # a short one plans


def test_the_projector_encoding_is_bounded(s1_settings):
    from unison_agent.models.projector import planner_hidden_states
    from unison_agent.models.qwen_loader import load_planner

    planner = load_planner(s1_settings)
    with pytest.raises(UnisonError, match="conditioning: the input has"):
        planner_hidden_states(planner, "a cat " * 300, max_tokens=64)
    assert planner_hidden_states(planner, "a cat", max_tokens=64).shape[1] > 0
