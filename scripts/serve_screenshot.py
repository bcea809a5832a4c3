"""Screenshot of `dnd serve`'s page after a real drop and a chat message (headless Debian
chromium driven by Playwright, as in tests/serving/test_browser.py).

    .venv/bin/python scripts/serve_screenshot.py --url http://127.0.0.1:8777 \
        --prompts prompts.txt --message "..." --out docs/serve_page.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from tempfile import TemporaryDirectory

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8777")
    ap.add_argument("--prompts", required=True, help="a .txt or .jsonl file to drop")
    ap.add_argument("--message", required=True)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--out", default="docs/serve_page.png")
    ap.add_argument("--width", type=int, default=1100)
    args = ap.parse_args()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    path = Path(args.prompts)
    with TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium", headless=True,
                                                   args=FLAGS, viewport={"width": args.width, "height": 900})
        page = ctx.new_page()
        page.goto(args.url + "/")
        page.wait_for_function("document.querySelector('#server-info').textContent.includes('base model')")
        dt = page.evaluate_handle("""([text, name]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: "text/plain"}));
            return dt;
        }""", [path.read_text(encoding="utf-8"), path.name])
        page.dispatch_event("#drop", "drop", {"dataTransfer": dt})
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        page.fill("#max-tokens", str(args.max_tokens))
        page.fill("#message", args.message)
        page.click("#send")
        page.wait_for_selector(".exchange .base[data-done='1']", timeout=300_000)
        page.wait_for_selector(".exchange .adapted[data-done='1']", timeout=300_000)
        page.screenshot(path=args.out, full_page=True)
        print(f"{args.out}: adapter {page.inner_text('#result-id')}, {page.inner_text('#result-time')}")
        print("base:", page.locator(".exchange .base .text").first.text_content())
        print("adapter:", page.locator(".exchange .adapted .text").first.text_content())
        ctx.close()


if __name__ == "__main__":
    main()
