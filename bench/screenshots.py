"""Screenshots of the main pages for the README, from a running `kb demo`.

Usage: python bench/screenshots.py [http://127.0.0.1:8000]
Signs in as the demo worker leon.fischer (demo password) for the pages with actions.
Run it on a fresh demo: it writes articles and a collection. phone.png is the search page
as a phone shows it (390×844). Every file is then saved with a palette (Pillow), which
keeps a screenshot of text and flat colours sharp at a fraction of the size.
"""

import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, ViewportSize, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DEMO_PASSWORD = "brightwater-demo"
PUBLIC_PAGES = {
    "home": "/",
    "search": "/search?q=compressor+cuts+out+when+it+is+hot",
    "person": "/people/marta.kowalski",
    "signin": "/signin",
}
FAILED_SEARCHES = [
    "paint booth filter clogs after two days",
    "spray booth filters block up too quickly",
    "forklift battery flat every morning",
    "fork truck battery drains overnight",
    "book a meeting room for visitors",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
BUDGET_BYTES = 200 * 1024  # per file, for the README to load fast
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def main(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport=DESKTOP, base_url=base)
        for name, path in PUBLIC_PAGES.items():
            page.goto(path)
            page.screenshot(path=str(OUT / f"{name}.png"))

        sign_in(page, "leon.fischer")
        page.goto("/entries/MNT-P-001")  # leon's own problem: accept, edit, discuss
        page.screenshot(path=str(OUT / "entry.png"), full_page=True)
        page.goto("/ask")
        page.fill("#ask-title", "Lathe stops with a servo fault after running an hour")
        page.wait_for_selector("#similar-results .case")
        page.screenshot(path=str(OUT / "ask.png"))
        for query in FAILED_SEARCHES:  # something for the console to show
            page.goto("/search?q=" + query.replace(" ", "+"))

        tutor = browser.new_page(viewport=DESKTOP, base_url=base)
        sign_in(tutor, "peter.lindqvist")
        tutor.goto("/console?weeks=52")
        tutor.wait_for_selector("svg.chart")
        tutor.screenshot(path=str(OUT / "console.png"), full_page=True)

        manager = browser.new_page(viewport=DESKTOP, base_url=base)
        sign_in(manager, "grace.okafor")
        articles = [
            write_article(manager, "MNT-P-001", "7", "Coolant mist in the DRIVE-CLiQ connector."),
            write_article(manager, "ITS-P-001", "10", "Cached VPN credentials after a change."),
        ]
        page.goto("/entries/MNT-S-001-1")  # leon: "did not work for me" puts it in the queue
        page.click("text=Did not work for me")
        manager.goto("/reviews")
        manager.screenshot(path=str(OUT / "reviews.png"), full_page=True)
        manager.goto("/collections/new")
        manager.fill("#title", "Faults that appear when things warm up or change")
        manager.fill("#introduction", "Two cases where **what changed** was the clue.")
        manager.fill("#entries", " ".join(articles + ["MNT-P-001"]))
        manager.fill("#questions", "What changed just before?\nWhat would you check first?")
        manager.click("form.stacked button[type=submit]")
        manager.click("text=Booklet (HTML)")
        manager.screenshot(path=str(OUT / "booklet.png"))

        phone = browser.new_page(viewport=PHONE, base_url=base)
        sign_in(phone, "leon.fischer")
        phone.goto(PUBLIC_PAGES["search"])
        phone.screenshot(path=str(OUT / "phone.png"))
        browser.close()
    for png in sorted(OUT.glob("*.png")):
        with_palette(png)


def with_palette(png: Path) -> None:
    """At most 256 colours, fewer for a long page until it fits BUDGET_BYTES; no
    dithering (it would speckle the flat backgrounds)."""
    before = png.stat().st_size
    with Image.open(png) as image:
        rgb = image.convert("RGB")
    for colours in (256, 128, 64):
        rgb.quantize(colors=colours, dither=Image.Dither.NONE).save(png, optimize=True)
        if png.stat().st_size <= BUDGET_BYTES:
            break
    after = png.stat().st_size
    print(f"{png.name}: {before / 1024:.0f} kB -> {after / 1024:.0f} kB, {colours} colours")


def write_article(page: Page, source: str, interval: str, cause: str) -> str:
    page.goto(f"/repertoire/new?source={source}")
    page.fill("#cause", cause)
    page.fill("#review_interval_days", interval)
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("aside.provenance")
    return page.url.rsplit("/", 1)[1]


def sign_in(page: Page, handle: str) -> None:
    page.goto("/signin")
    page.fill("#handle", handle)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("a.me")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
