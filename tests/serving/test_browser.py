"""The page in a real browser: Debian's headless chromium (`make browser` installs it) driven
by Playwright, no browser download. Drops a prompts file on the drop zone (a real `drop`
event carrying a DataTransfer with a File), waits for the adapter, sends a chat message,
reads both streamed answers and saves a screenshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serve_live import BOOLQ_LIKE, SST2_LIKE, chat, data_dir, server  # noqa: F401 (fixtures)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    profile = tmp_path_factory.mktemp("chromium_profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                       args=FLAGS, viewport={"width": 1200, "height": 1100})
        yield context.new_page()
        context.close()


def test_drop_generate_chat_in_chromium(page, server, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelector('#server-info').textContent.includes('base model')")

    text = "\n".join(p.replace("\n", " ") for p in SST2_LIKE) + "\n"
    dt = page.evaluate_handle("""(text) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], "reviews.txt", {type: "text/plain"}));
        return dt;
    }""", text)
    page.dispatch_event("#drop", "dragover", {"dataTransfer": dt})
    page.dispatch_event("#drop", "drop", {"dataTransfer": dt})
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    aid = page.inner_text("#result-id")
    assert aid.startswith("dnd-") and "reviews.txt: 8 lines" in page.inner_text("#file-name")
    assert "generated in" in page.inner_text("#result-time") or "already generated" in page.inner_text("#result-time")
    assert page.locator("#nearest li").count() == 2  # the tiny generator's two training tasks
    assert server.client.get(f"/v1/adapters/{aid}").json()["n_prompts"] == len(SST2_LIKE)
    page.wait_for_selector(f"#adapters tr[data-id='{aid}']")
    assert page.input_value("#adapter-select") == aid

    message = "Was the film any good?"
    page.fill("#max-tokens", "12")
    page.fill("#message", message)
    page.click("#send")
    page.wait_for_selector(".exchange .base[data-done='1']", timeout=60_000)
    page.wait_for_selector(".exchange .adapted[data-done='1']", timeout=60_000)
    base_text = page.locator(".exchange .base .text").first.text_content()
    adapted_text = page.locator(".exchange .adapted .text").first.text_content()
    assert base_text == chat(server.client, "base", message)  # the page shows the API's greedy answers
    assert adapted_text == chat(server.client, aid, message)
    assert aid in page.inner_text(".exchange .adapted .who")
    assert page.locator(".exchange .answer .meta").first.text_content().strip().endswith(("stop", "length"))
    shot = tmp_path / "serve_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not errors, errors

    page.click(f"#adapters tr[data-id='{aid}'] button")  # delete from the list
    page.wait_for_selector(f"#adapters tr[data-id='{aid}']", state="detached")
    assert server.client.get(f"/v1/adapters/{aid}").status_code == 404


def test_file_picker_and_text_box(page, server, tmp_path):
    page.goto(server.url + "/")
    f = tmp_path / "questions.txt"
    f.write_text("\n".join(BOOLQ_LIKE) + "\n")
    page.set_input_files("#file", str(f))  # the file picker
    page.wait_for_function("document.querySelector('#result-prompts').textContent.startsWith('8 prompts')")
    picked = page.inner_text("#result-id")
    assert server.client.get(f"/v1/adapters/{picked}").json()["name"] == "questions.txt"

    page.fill("#prompts", "\n".join(BOOLQ_LIKE[:3]))  # typed prompts and the Generate button
    page.fill("#description", "yes/no questions about short passages")
    page.click("#generate")
    page.wait_for_function(f"document.querySelector('#result-id').textContent !== '{picked}'")
    typed = server.client.get(f"/v1/adapters/{page.inner_text('#result-id')}").json()
    assert typed["n_prompts"] == 3 and typed["description"] == "yes/no questions about short passages"
    assert "prompts given" in page.inner_text("#result-warnings")  # 3 < N = 8: the generator's warning
