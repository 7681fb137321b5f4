"""Memory: compound requests, references across turns, history for the understanding model, undo."""

from __future__ import annotations

import pytest

from unison_agent.contract.errors import MediaError
from unison_agent.core.steps import split_steps
from unison_agent.media import store as media_store


def test_split_steps_separators_and_mentions():
    assert split_steps(
        "make a picture of a red fox, then turn it into a 3-second video, then make the snow purple"
    ) == ["make a picture of a red fox", "turn it into a 3-second video", "make the snow purple"]
    assert split_steps(
        "draw a cat and then animate it; then describe ###a, then b.png###. After that, make it blue"
    ) == ["draw a cat", "animate it", "describe ###a, then b.png###", "make it blue"]
    assert split_steps("a dog on a beach") == ["a dog on a beach"]


def test_compound_request_chains_outputs(make_session, rec):
    s = make_session()
    r = s.send("make a picture of a red fox, then turn it into a 3-second video, then make the snow purple")
    assert r.ok, r.errors
    assert [x["task"] for x in r.results] == ["text_to_image", "image_to_video", "video_edit"]
    img, vid, edit = r.outputs
    i2v = rec.generated[1]["plan"]
    assert i2v.first("frame").path == img and i2v.num_frames == 49
    ve = rec.generated[2]["plan"]
    assert ve.first("source").path == vid and ve.target == "snow"
    # the edit mask is made by the graph's annotate step (a media item of its own), then handed to generate
    assert rec.annotated[0] == {"kind": "mask", "input": vid, "target": "snow"}
    mask = rec.generated[2]["files"]["mask"]
    assert [(m["id"], m["origin"]) for m in s.media()] == [
        (1, "output"),
        (2, "output"),
        (3, "annotation"),
        (4, "output"),
    ]
    assert s.media()[2]["path"] == mask and r.results[2]["prepared"] == [mask]
    assert "scripted mask" in r.results[2]["notes"]  # the annotator's notes reach the result


def test_references_across_turns(make_session, rec, agent_media):
    s = make_session()
    s.send(f"describe ###{agent_media / 'fox.png'}###")  # input #1
    s.send("make a 2-second video of a red fox in the snow")  # output #2
    s.send("make a picture of a blue bird")  # output #3
    r = s.send("animate the first image")
    assert rec.generated[-1]["plan"].first("frame").path == str(agent_media / "fox.png")
    r = s.send("describe the last video")  # the animation just made (#4)
    assert r.task == "video_understanding"
    assert rec.understood[-1]["plan"].inputs[0].path == s.media()[3]["path"]
    s.send("describe the first video")
    assert rec.understood[-1]["plan"].inputs[0].path == s.media()[1]["path"]
    r = s.send("what is in #3?")
    assert rec.understood[-1]["plan"].inputs[0].path == s.media()[2]["path"]
    r = s.send("what is in it?")  # "it" = the latest output (the animation made above)
    assert rec.understood[-1]["plan"].inputs[0].path == s.media()[3]["path"]
    r = s.send("what is in #42?")
    assert not r.ok and "no media #42" in r.errors[0]["error"]


def test_understanding_sees_history(make_session, rec):
    s = make_session()
    s.send("what is the capital of France?")
    s.send("and of Italy?")
    history = rec.understood[-1]["history"]
    assert [h["role"] for h in history] == ["user", "assistant"]
    assert history[0]["content"] == "what is the capital of France?"
    assert history[1]["content"].startswith("answer about")


def test_resolve_references_unit():
    media = []
    media, _ = media_store.register(media, "/m/a.png", "image", origin="input", turn=1)
    media, _ = media_store.register(media, "/m/b.mp4", "video", origin="output", turn=1)
    media, _ = media_store.register(media, "/m/c.png", "image", origin="output", turn=2)
    r = media_store.resolve_references
    assert r("make #1 brighter", media) == "make ###/m/a.png### brighter"
    assert r("animate it", media) == "animate the image ###/m/c.png###"
    assert r("describe the last video", media) == "describe the video ###/m/b.mp4###"
    assert r("animate the first image", media) == "animate the image ###/m/a.png###"
    assert r("make a video that shows a dog", media) == "make a video that shows a dog"
    assert r("make it bigger ###/x.png###", media) == "make it bigger ###/x.png###"
    assert r("animate it", []) == "animate it"
    with pytest.raises(MediaError, match="only 2 image"):
        r("the third image", media)
    again, item = media_store.register(media, "/m/a.png", "image", origin="input", turn=3)
    assert item["id"] == 1 and len(again) == 3


def test_undo_forgets_last_turn(make_session):
    s = make_session()
    s.send("make a picture of a red fox")
    s.send("make a picture of a blue bird")
    assert len(s.media()) == 2 and len(s.history()) == 2
    assert s.undo() is True
    assert len(s.media()) == 1 and len(s.history()) == 1
    assert [m["content"] for m in s.messages() if m["role"] == "user"] == ["make a picture of a red fox"]
    r = s.send("make a picture of a green frog")
    assert r.ok and s.media()[-1]["id"] == 2
    assert s.undo() and s.undo() and not s.undo()
    assert s.media() == []
