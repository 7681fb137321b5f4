"""Checking its own work: the verify node's loop (scripted scores), the best attempt kept and the others moved
aside, the sidecar's record of every attempt, an edit's pixel check, and the rule-written checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unison_agent.contract.plan import Plan
from unison_agent.core.verify import preserved_outside_mask, rule_checks


def _verifying(settings, n=3, threshold=0.7):
    return settings.replace(verify_attempts=n, verify_threshold=threshold)


def test_passes_on_the_second_attempt(make_session, rec, settings):
    rec.score_fn = lambda q, n: 0.2 if n <= len_checks[0] else 0.95
    len_checks = [0]
    s = make_session(thread="v1", settings=_verifying(settings))
    events = []
    on_event = events.append
    # the first attempt's checks all score 0.2, the second's 0.95
    from unison_agent.core.verify import checks_for

    plan = s.plan("make a picture of a red fox in the snow")[0].plan
    len_checks[0] = len(checks_for(plan))
    r = s.send("make a picture of a red fox in the snow", on_event=on_event)
    assert r.ok, r.errors
    assert len(rec.generated) == 2 and rec.generated[1]["seed"] != rec.generated[0]["seed"]
    assert "passed; retried once" in r.answer
    kept = Path(r.outputs[0])
    side = json.loads(kept.with_suffix(".json").read_text())
    record = side["verification"]["attempts"]
    assert [a["kept"] for a in record] == [False, True] and record[0]["score"] < 0.7 <= record[1]["score"]
    aside = kept.parent / "attempts"
    assert (aside / record[0]["output"]).is_file()  # moved aside, not deleted
    assert [m["path"] for m in s.media()] == [str(kept)]  # only the kept output becomes media
    assert any(e["event"] == "status" and "retrying" in e["text"] for e in events)


def test_never_passes_keeps_the_best_after_n_and_raises_guidance(make_session, rec, settings):
    scores = iter([0.3, 0.5, 0.4] * 10)
    rec.score_fn = lambda q, n: next(scores)
    s = make_session(thread="v2", settings=_verifying(settings, n=3, threshold=0.99))
    r = s.send("make a 1-second video of waves crashing on rocks")
    assert r.ok and len(rec.generated) == 3
    assert [g["guidance"] for g in rec.generated] == [settings.guidance, settings.guidance, settings.guidance + 1.5]
    assert "retried 2 times" in r.answer and "kept the best" in r.answer
    side = json.loads(Path(r.outputs[0]).with_suffix(".json").read_text())
    scores_seen = [a["score"] for a in side["verification"]["attempts"]]
    assert side["verification"]["attempts"][int(np.argmax(scores_seen))]["kept"]
    assert len(list((Path(r.outputs[0]).parent / "attempts").glob("*.mp4"))) == 2


def test_review_happens_before_the_first_attempt_only(make_session, rec, settings):
    rec.score_fn = lambda q, n: 0.1
    s = make_session(thread="v3", settings=_verifying(settings, n=2), confirm=True)
    r = s.send("make a picture of a red fox")
    assert r.pending
    r = s.resume("accept")
    assert r.ok and len(rec.generated) == 2 and r.pending is None


def test_edit_checks_the_area_outside_the_mask(make_session, rec, settings, agent_media):
    s = make_session(thread="v4", settings=_verifying(settings, n=1))
    r = s.send(f"Edit ###{agent_media / 'fox.png'}### with the mask ###{agent_media / 'mask.png'}###: add a lamp")
    assert r.ok, r.errors
    side = json.loads(Path(r.outputs[0]).with_suffix(".json").read_text())
    checks = side["verification"]["attempts"][0]["checks"]
    preserve = [c for c in checks if c["kind"] == "preserve"]
    # the scripted output is black everywhere, so the unmasked area did not stay put
    assert preserve and preserve[0]["p_yes"] < 0.1
    assert all(q != c["question"] for q, _ in rec.checked for c in preserve)  # a pixel metric, not a question


def test_preserved_outside_mask_metric():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    out = src.copy()
    out[:, 8:24, 8:24] = 0  # changed inside only
    assert preserved_outside_mask(src, out, mask) == 1.0
    assert preserved_outside_mask(src, np.zeros_like(src), mask) == 0.0
    slightly = np.clip(src.astype(int) + 6, 0, 255).astype(np.uint8)
    assert 0.6 < preserved_outside_mask(src, slightly, mask) < 0.9


@pytest.mark.parametrize(
    "task, prompt, extra, expected",
    [
        ("text_to_image", "a picture of three red apples on a table", {}, ["object", "count"]),
        ("text_to_image", 'a poster of a cafe with a sign that says "OPEN LATE"', {}, ["object", "text"]),
        ("text_to_video", "a video of a dog running on a beach", {"num_frames": 17, "fps": 16}, ["object", "motion"]),
        ("image_edit", "make the car in <IMGPAD> yellow", {"target": "car"}, ["attribute"]),
        ("image_edit", "remove the person from <IMGPAD>", {"target": "person"}, ["object"]),
    ],
)
def test_rule_checks(task, prompt, extra, expected):
    fields = {"width": 64, "height": 64, "num_frames": 1, **extra}
    inputs = [{"path": "a.png", "kind": "image", "role": "source"}] if task == "image_edit" else []
    plan = Plan(task=task, prompt=prompt, inputs=inputs, **fields)
    checks = rule_checks(plan)
    assert [c.kind for c in checks] == expected
    assert all(c.question.endswith("?") for c in checks)


def test_a_turn_can_turn_checking_on_with_an_override(make_session, rec, settings):
    """The web UI's "check outputs" field: verify_attempts per turn, over a session whose setting is off."""
    rec.score_fn = lambda q, n: 0.1
    s = make_session(thread="v-override", settings=settings.replace(verify_attempts=0))
    r = s.send("make a picture of a red fox in the snow", overrides={"verify_attempts": 2})
    assert r.ok and len(rec.generated) == 2 and "retried once" in r.answer, (r.answer, r.errors)
    r = s.send("make a picture of a red fox in the snow")
    assert len(rec.generated) == 3, "without the override the session's setting (off) holds"
