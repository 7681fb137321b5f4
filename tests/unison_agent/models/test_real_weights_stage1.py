"""Real published weights (opt in: UNISON_RUN_SLOW=1, weights under UNISON_HOME/models or set by UNISON_* paths)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_settings():
    from unison_agent.contract.settings import Settings

    return Settings.resolve()


def test_real_planner_tokens_and_projector(real_settings):
    from unison_agent.contract.protocol import UNISON_TOKENS
    from unison_agent.models.projector import projector_tokens
    from unison_agent.models.qwen_loader import load_planner, weights_status

    status = weights_status(real_settings)
    assert status["unison"], f"Unison planner weights missing: {status['missing']}"
    planner = load_planner(real_settings)
    ids = planner.token_ids()
    assert ids == list(range(ids[0], ids[0] + len(UNISON_TOKENS)))
    assert planner.text_hidden_size == 2048
    tokens = projector_tokens(real_settings, "a cat playing piano in a jazz bar")
    assert tokens is not None and tuple(tokens.shape) == (1, 4, 4096)


def test_real_unison_planner_plans_a_video(real_settings):
    from unison_agent.contract.plan import Task
    from unison_agent.planners.base import Request
    from unison_agent.planners.unison import UnisonPlanner

    plan = UnisonPlanner(real_settings).plan(Request.parse("Generate a 5 second video of a cat playing piano."))
    assert plan.task is Task.text_to_video and plan.fallback is None and plan.num_frames == 81
