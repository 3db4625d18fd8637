"""Screenshots of the main pages for the README, from a running `kb serve`.

Usage: python bench/screenshots.py http://127.0.0.1:8000
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PAGES = {
    "home": "/",
    "search": "/search?q=compressor+cuts+out+when+it+is+hot",
    "entry": "/entries/MNT-P-001",
    "person": "/people/marta.kowalski",
}


def main(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, path in PAGES.items():
            page.goto(base + path)
            page.screenshot(path=str(OUT / f"{name}.png"))
        page.goto(base + "/ask")
        page.fill("#ask-title", "Lathe stops with a servo fault after running an hour")
        page.wait_for_selector("#similar-results .case")
        page.screenshot(path=str(OUT / "ask.png"))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
