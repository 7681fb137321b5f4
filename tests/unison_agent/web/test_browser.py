"""A real browser (Debian's chromium, driven by Playwright) uses the app as a person does: types a request,
attaches an image, sends, waits for the generated video in the conversation, and saves a screenshot.

Chromium is a system package (``apt-get install chromium``; ``.ci/run`` installs it when absent). Without it this
test fails: it does not skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

CHROMIUM = os.environ.get("UNISON_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def test_browser_uploads_an_image_and_gets_a_video(web_server, fox_png, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}: apt-get install -y chromium (see .ci/run)"
    shot = tmp_path / "web-demo.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(web_server.url)
        expect(page.locator("#demo-banner")).to_contain_text("outputs are noise")
        page.locator("#prompt textarea").fill("animate this into a 5-frame 64x64 video")
        page.locator("#prompt input[type=file]").set_input_files(str(fox_png))
        thumb = page.locator("#prompt").get_by_role("listitem", name="File thumbnail")
        expect(thumb).to_be_visible(timeout=20_000)  # the upload finished
        page.locator("#prompt textarea").press("Enter")
        video = page.locator("#chat video")
        expect(video).to_have_count(1, timeout=120_000)
        expect(page.locator("#chat")).to_contain_text("#2 · video · image_to_video-")
        expect(page.locator("#chat")).to_contain_text("#1 · image · fox.png")
        expect(page.locator("#chat img").first).to_be_visible()
        expect(page.locator("#status")).to_contain_text("ready")
        assert video.evaluate("v => v.currentSrc || v.src").startswith(web_server.url)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    image = Image.open(shot)
    assert image.format == "PNG" and image.size[0] == 1280 and image.size[1] >= 860
    (made,) = (web_server.home / "outputs").glob("web-*/image_to_video-*.mp4")
    assert (made.parent.parent.parent / "uploads" / made.parent.name / "fox.png").is_file()
    if os.environ.get("UNISON_WEB_SCREENSHOT"):  # refresh the README's picture: UNISON_WEB_SCREENSHOT=docs/web.png
        shutil.copyfile(shot, os.environ["UNISON_WEB_SCREENSHOT"])
