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


WATCH = """() => {
  window.seen = {bars: [], labels: [], stopEnabled: false};
  new MutationObserver(() => {
    const bar = document.querySelector('#status progress');
    if (bar) window.seen.bars.push(bar.value + '/' + bar.max);
    const label = document.querySelector('#status .unison-label');
    if (bar && label) window.seen.labels.push(label.textContent + ' ' + bar.value + '/' + bar.max);
    if (!document.querySelector('#stop').disabled) window.seen.stopEnabled = true;
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def open_page(pw, url):
    from playwright.sync_api import expect

    assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}: apt-get install -y chromium (see .ci/run)"
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(url)
    expect(page.locator("#status")).to_contain_text("ready")
    return browser, page


def test_settings_untouched_generate_with_a_step_bar_and_stop_only_while_running(web_server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser, page = open_page(pw, web_server.url)
        stop, status, prompt = page.locator("#stop"), page.locator("#status"), page.locator("#prompt textarea")
        expect(stop).to_be_disabled()
        page.locator("#settings").get_by_text("Settings", exact=True).click()  # open the panel, touch nothing
        fields = [
            page.locator(f"#set-{k} textarea, #set-{k} input").first for k in ("steps", "guidance", "seed", "verify")
        ]
        for field in fields:
            expect(field).to_have_value("")
        expect(fields[0]).to_have_attribute("placeholder", "default 2")  # the demo's steps
        page.evaluate(WATCH)
        prompt.fill("make a 5-frame 64x64 video of a fox")
        prompt.press("Enter")
        expect(page.locator("#chat video")).to_have_count(1, timeout=120_000)
        expect(status).to_contain_text("ready — last: denoising 2/2")  # the request's steps: the demo's 2
        expect(stop).to_be_disabled()
        seen = page.evaluate("window.seen")
        assert seen["stopEnabled"], "Stop was enabled while the turn ran"
        assert set(seen["bars"]) <= {"0/2", "1/2", "2/2"} and "2/2" in seen["bars"], seen

        # a value the generation would refuse: said beside the settings, the message stays, nothing runs
        fields[0].fill("0")
        prompt.fill("make a 5-frame 64x64 video of a cat")
        prompt.press("Enter")
        expect(page.locator("#settings-note")).to_contain_text("steps must be at least 1, got 0")
        expect(prompt).to_have_value("make a 5-frame 64x64 video of a cat")
        expect(status).to_contain_text("not sent")
        # set to 3: the bar counts 3 steps
        fields[0].fill("3")
        page.evaluate(WATCH)
        prompt.press("Enter")
        expect(page.locator("#chat video")).to_have_count(2, timeout=120_000)
        expect(status).to_contain_text("ready — last: denoising 3/3")
        expect(page.locator("#settings-note")).to_have_text("")
        bars = page.evaluate("window.seen.bars")
        assert len(set(bars)) >= 2 and "3/3" in bars, bars  # the bar moved

        # a long video (17 frames in windows of 9): the status names the window of every step
        page.evaluate(WATCH)
        prompt.fill("make a 1-second 64x64 video of an owl")
        prompt.press("Enter")
        expect(page.locator("#chat video")).to_have_count(3, timeout=120_000)
        expect(status).to_contain_text("ready — last: window 3/3 · denoising 3/3")
        labels = set(page.evaluate("window.seen.labels"))
        assert {f"window {i}/3 · denoising 3/3" for i in (1, 2, 3)} <= labels, labels
        browser.close()
    sidecar = max((web_server.home / "outputs").glob("web-*/text_to_video-*.json"), key=lambda p: p.stat().st_mtime)
    assert '"steps": 3' in sidecar.read_text()


def test_a_refused_request_and_its_error_stay_after_reloading(web_server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser, page = open_page(pw, web_server.url)
        chat, prompt = page.locator("#chat"), page.locator("#prompt textarea")
        prompt.fill("describe ###/etc/passwd###")
        prompt.press("Enter")
        expect(chat).to_contain_text("describe /etc/passwd")
        expect(chat).to_contain_text("error: access to /etc/passwd is not allowed")
        thread = page.locator("#threads input").input_value()
        assert thread.startswith("web-")
        page.reload()
        expect(page.locator("#threads input")).not_to_have_value(thread)  # a new page opens a new thread
        expect(chat).not_to_contain_text("/etc/passwd")
        page.locator("#threads input").fill(thread)
        page.get_by_role("button", name="Open", exact=True).click()
        expect(chat).to_contain_text("describe /etc/passwd")
        expect(chat).to_contain_text("error: access to /etc/passwd is not allowed")
        browser.close()
