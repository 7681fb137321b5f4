"""The settings panel through the app's own endpoint (gradio_client, scripted tools): blank fields are the
defaults, every field set reaches the generation, and a value the generation would refuse is a message beside the
settings while nothing runs."""

from __future__ import annotations

import html

import pytest

gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is in the dev extra")  # installed by .[dev]

from gradio_client import Client  # noqa: E402

from tests.fixtures.agent import Recorder, ScriptedTools  # noqa: E402
from unison_agent.contract.settings import Settings  # noqa: E402
from unison_agent.web import WebChat  # noqa: E402
from unison_agent.web.app import build_app  # noqa: E402


def note(out) -> str:
    """The message beside the settings: /send's last output with a value."""
    return out[-1]["value"]


class PlannerNoting(ScriptedTools):
    """Scripted tools that also note the planner setting each plan was asked with."""

    def planner(self, settings):
        self.rec.planners = [*getattr(self.rec, "planners", []), settings.planner]
        return super().planner(settings)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    rec = Recorder()
    home = tmp_path_factory.mktemp("panel")
    settings = Settings.resolve({"home": str(home), "planner": "rules", "steps": 4}, env={})
    chat = WebChat(settings, tools=PlannerNoting(rec))
    app = build_app(chat, thread="panel")
    app.queue()
    app.launch(prevent_thread_lock=True, quiet=True, allowed_paths=chat.serve_dirs())
    yield Client(app.local_url, verbose=False), rec
    app.close()
    chat.close()


def send(client, text, *, review=False, planner="auto", offload="none", steps="", guidance="", seed="", verify=""):
    return client.predict(
        {"text": text, "files": []}, review, planner, offload, steps, guidance, seed, verify, api_name="/send"
    )


def test_blank_fields_are_the_defaults_and_every_field_round_trips(served):
    client, rec = served
    out = send(client, "make a 64x64 picture of a red fox")
    gen = rec.generated[-1]
    assert "ready" in out[1] and (gen["steps"], gen["guidance"], gen["seed"], gen["offload"]) == (4, 5.0, None, "none")
    assert rec.planners[-1] == "auto" and rec.checked == []
    out = send(
        client,
        "make a 64x64 picture of a cat",
        planner="rules",
        offload="model",
        steps="3",
        guidance="6.5",
        seed="11",
        verify="2",
    )
    gen = rec.generated[-1]
    assert (gen["steps"], gen["guidance"], gen["seed"], gen["offload"]) == (3, 6.5, 11, "model")
    assert rec.planners[-1] == "rules" and rec.checked, "check outputs: the attempt was checked"
    assert "ready" in out[1] and note(out) == ""
    before = len(rec.generated)
    out = send(client, "make a 64x64 picture of a dog", review=True, steps=" 12.0 ", verify="0")
    assert "waiting for plan review" in out[1] and len(rec.generated) == before


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("steps", "0", "steps must be at least 1, got 0"),
        ("steps", "2.5", "steps: '2.5' is not a whole number"),
        ("guidance", "strong", "guidance: 'strong' is not a number of 0 or more"),
        ("seed", "-1", "seed must be between 0 and"),
        ("verify", "-2", "check outputs must be at least 0"),
    ],
)
def test_a_value_the_generation_would_refuse_is_a_message_and_nothing_runs(served, field, value, says):
    client, rec = served
    before = len(rec.generated)
    out = send(client, "make a 64x64 picture of an owl", **{field: value})
    assert says in note(out) and says in html.unescape(out[1]) and "blank" in note(out)
    assert len(rec.generated) == before
