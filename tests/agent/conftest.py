"""Agent-area fixtures: scripted tools (no models), small media files, and a session factory.

The scripted tools write real files (PNG / MP4 via unison_agent.media) so the graph, media registry and
persistence are exercised end to end without weights; the tiny-model end-to-end test lives in test_e2e_tiny.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import natural_clip
from unison_agent.media import write_image, write_json, write_video
from unison_agent.settings import Settings


@dataclass
class FakeResult:
    outputs: list
    sidecars: list
    seed: int
    notes: list
    timings: dict
    width: int = 0
    height: int = 0
    num_frames: int = 0


@dataclass
class FakeAnnotation:
    path: Path
    notes: list = field(default_factory=list)


@dataclass
class Recorder:
    """What the scripted tools were called with."""

    plans: list = field(default_factory=list)
    understood: list = field(default_factory=list)
    generated: list = field(default_factory=list)
    annotated: list = field(default_factory=list)
    fail_on: set = field(default_factory=set)  # task names whose generation raises a UnisonError
    bug_on: set = field(default_factory=set)  # task names whose generation raises a bug (ZeroDivisionError)
    interrupt_on: set = field(default_factory=set)  # task names whose generation raises KeyboardInterrupt
    checked: list = field(default_factory=list)  # (question, paths) asked of outputs
    score_fn: object = None  # (question, n_checked_so_far) -> P(yes); default 0.9


@dataclass
class ScriptedTools:
    """A Toolbox with no models: the rules planner (or ``plan_fn``), canned answers, files of the plan's size."""

    rec: Recorder
    plan_fn: object = None
    name: str = "scripted"

    def plan(self, request, settings):
        from unison_agent.planners.rules import RulesPlanner

        p = self.plan_fn(request) if self.plan_fn else RulesPlanner().plan(request)
        self.rec.plans.append(p)
        return p

    def understand(self, plan, settings, *, history=None, on_token=None):
        self.rec.understood.append({"plan": plan, "history": history})
        answer = f"answer about {len(plan.inputs)} file(s) with {len(history or [])} earlier message(s)"
        for word in answer.split(" "):
            if on_token:
                on_token(word + " ")
        return answer

    def generate(self, plan, settings, *, out_dir, seed=None, on_step=None, files=None):
        from unison_agent.errors import UnisonError

        rec = self.rec
        rec.generated.append({"plan": plan, "seed": seed, "steps": settings.steps, "out_dir": out_dir,
                              "files": dict(files or {}), "guidance": settings.guidance,
                              "offload": settings.offload, "vae_tiling": settings.vae_tiling})  # fmt: skip
        if plan.task.value in rec.interrupt_on:
            raise KeyboardInterrupt
        if plan.task.value in rec.fail_on:
            raise UnisonError(f"scripted failure in {plan.task.value}")
        if plan.task.value in rec.bug_on:
            raise ZeroDivisionError("scripted bug")
        for i in range(settings.steps):
            if on_step:
                on_step(i + 1, settings.steps)
        seed = 1234 if seed is None else seed
        name = f"{plan.task.value}-{time.time_ns()}-{seed}"
        if plan.task.output == "image":
            out = write_image(Path(out_dir) / f"{name}.png", np.zeros((plan.height, plan.width, 3), np.uint8))
        else:
            out = write_video(
                Path(out_dir) / f"{name}.mp4",
                np.zeros((plan.num_frames, plan.height, plan.width, 3), np.uint8),
                fps=plan.fps,
            )
        sidecar = write_json(Path(out).with_suffix(".json"), {"output": Path(out).name, "seed": seed})
        return FakeResult([out], [sidecar], seed, ["scripted"], {"total_s": 0.01}, plan.width, plan.height,
                          plan.num_frames)  # fmt: skip

    def check(self, question, paths, settings):
        self.rec.checked.append((question, list(paths)))
        return self.rec.score_fn(question, len(self.rec.checked)) if self.rec.score_fn else 0.9

    def annotate(self, kind, input_path, out_path, settings, *, target=None):
        self.rec.annotated.append({"kind": kind, "input": str(input_path), "target": target})
        if Path(out_path).suffix == ".png":
            return FakeAnnotation(write_image(out_path, np.full((32, 32, 3), 128, np.uint8)), [f"scripted {kind}"])
        return FakeAnnotation(
            write_video(out_path, np.full((5, 32, 32, 3), 128, np.uint8), fps=16), [f"scripted {kind}"]
        )


def scripted_tools(rec: Recorder, plan_fn=None) -> ScriptedTools:
    return ScriptedTools(rec, plan_fn)


@pytest.fixture
def agent_home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(agent_home) -> Settings:
    return Settings.resolve({"home": str(agent_home), "planner": "rules", "steps": 3}, env={})


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make_session(settings, rec):
    from unison_agent.session import Session

    made = []

    def make(thread="t", tools=None, **kw):
        s = Session(kw.pop("settings", settings), thread=thread, tools=tools or scripted_tools(rec), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A few small media files: an image, a mask, a video."""
    d = tmp_path_factory.mktemp("agent_media")
    img = natural_clip(1, 64, 64, seed=1)[0]
    img[16:48, 16:48] = (200, 50, 50)
    write_image(d / "fox.png", img)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    write_image(d / "mask.png", mask)
    write_video(d / "clip.mp4", natural_clip(9, 64, 64), fps=16)
    return d
