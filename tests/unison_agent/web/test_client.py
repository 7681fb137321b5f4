"""The web app through Gradio's own client, as a program would drive it: upload, ask, make a video under plan
review, refer back with "it", the file boundary, reopening the thread in a new browser session, undo."""

from __future__ import annotations

from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is in the dev extra")  # installed by .[dev]

from gradio_client import Client, handle_file  # noqa: E402

from unison_agent.media.files import read_video  # noqa: E402

SETTINGS = ("rules", "none")  # planner, offload (the settings panel)
GEN = ("", "", "", "")  # steps, guidance, seed, verify attempts: blank, the demo's defaults


def texts(chat: list[dict]) -> list[str]:
    return [part["text"] for m in chat for part in m["content"] if part.get("type") == "text"]


def files(chat: list[dict]) -> list[tuple[str, str]]:
    """(alt text, served copy) of every file in the chat."""
    return [(part["alt_text"], part["file"]) for m in chat for part in m["content"] if part.get("type") == "file"]


def send(client: Client, text: str, attach=(), review=False):
    job = client.submit(
        {"text": text, "files": [handle_file(str(p)) for p in attach]}, review, *SETTINGS, *GEN, api_name="/send"
    )
    final = job.result(timeout=120)
    return final, job.outputs()


def test_a_conversation_through_gradio_client(web_server, fox_png):
    home = web_server.home
    client = Client(web_server.url, verbose=False)
    opened = client.predict("gc", *SETTINGS, api_name="/open_thread")
    assert opened[0] == [] and opened[-1]["value"] == "gc"

    # 1. upload an image and ask about it: the upload is copied under UNISON_HOME/uploads/<thread>/, shown as #1
    final, stream = send(client, "describe this image", [fox_png])
    chat = final[0]
    copied = home / "uploads" / "gc" / "fox.png"
    assert copied.read_bytes() == fox_png.read_bytes()
    assert ("#1 · image · fox.png", files(chat)[0][1]) == files(chat)[0]
    assert Path(files(chat)[0][1]).read_bytes() == fox_png.read_bytes()  # the client downloaded the served file
    assert "describe this image `fox.png` (#1)" in texts(chat)
    answer = chat[-1]
    assert answer["role"] == "assistant" and texts([answer])[0].endswith("_image_understanding of #1_")
    assert len(stream) >= 3, "the answer streams: several updates before the final one"
    assert "ready" in final[1]

    # 2. request a video with plan review on: the plan waits as a form; edits apply as the CLI's overrides do
    final, _ = send(client, "make a 1-second video of a cat", review=True)
    assert "waiting for plan review" in final[1]
    review_info, *fields = (u["value"] for u in final[3:13])
    assert review_info.startswith("**Plan review** — text_to_video") and "17 frames" in review_info
    assert fields[:5] == ["text_to_video", 128, 128, 17, 16]
    assert "waiting for plan review: text_to_video" in texts(final[0])[-1]
    job = client.submit(*SETTINGS, "text_to_video", 64, 64, 5, 16, 7, None, "", "", "", api_name="/review_run")
    final = job.result(timeout=120)
    bars = [out[1] for out in job.outputs() if "<progress" in out[1]]
    assert bars and "max='2'" in bars[-1], "the denoising steps show as a progress bar (demo: 2 steps)"
    chat = final[0]
    (label, _served) = files(chat)[-1]
    assert label.startswith("#2 · video · text_to_video-") and label.endswith(".mp4")
    assert any(t.startswith("**text_to_video**") and "#2" in t for t in texts(chat))
    (mp4,) = (home / "outputs" / "gc").glob("text_to_video-*.mp4")
    frames, fps = read_video(mp4)
    assert frames.shape == (5, 64, 64, 3) and fps == 16 and label.endswith(mp4.name)
    assert '"seed": 7' in mp4.with_suffix(".json").read_text()

    # 3. refer back with "it": the last output, #2
    final, _ = send(client, "what happens in it?")
    assert texts(final[0])[-2] == "what happens in it?"
    assert texts(final[0])[-1].endswith("_video_understanding of #2_")

    # 4. a typed path outside the uploads, the thread's outputs and allowed_dirs is refused: a message, no traceback,
    #    kept in the thread with the person's message
    final, _ = send(client, f"describe ###{fox_png}###")
    refusal = texts(final[0])[-1]
    assert refusal.startswith(f"error: access to {fox_png} is not allowed") and "Traceback" not in refusal

    # 5. a new browser session reopens the thread: the whole history with its media and ids
    other = Client(web_server.url, verbose=False)
    reopened = other.predict("gc", *SETTINGS, api_name="/open_thread")
    chat = reopened[0]
    assert [a for a, _ in files(chat)] == ["#1 · image · fox.png", label]
    assert "what happens in it?" in texts(chat)
    assert f"describe `{fox_png}`" in texts(chat) and refusal in texts(chat)  # a refusal is kept as a turn
    assert "gc" in [c[0] for c in reopened[-1]["choices"]]

    # 6. undo forgets the last turn (the refusal), then the question about #2; the earlier turns and media stay
    chat, status = other.predict(*SETTINGS, api_name="/undo")
    assert "forgot the last turn" in status and refusal not in texts(chat) and "what happens in it?" in texts(chat)
    chat, status = other.predict(*SETTINGS, api_name="/undo")
    assert "forgot the last turn" in status and "what happens in it?" not in texts(chat) and len(files(chat)) == 2
