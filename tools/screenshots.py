"""Screenshots of every page (the reports and the audiences): simple and expert mode, English
and French, at desktop width, and the simple mode at phone width, into docs/screenshots/ (the
README shows the main ones).

    .venv/bin/python tools/screenshots.py --workspace demo [--out docs/screenshots]

It serves the workspace itself (`parcours.faces.api.served`, on a free loopback port) and
drives Debian's Chromium. It fails when a page does not draw, or logs a console error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from parcours.faces.api import served
from parcours.reports import CATALOGUE

CHROMIUM = "/usr/bin/chromium"
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}


REPORT_DRAWN = "main[aria-busy=false]"  # answered and drawn (a chart, tables, or why there are none)
AUDIENCES_DRAWN = "#overlap .main-svg, table.report tbody tr, #none:not([hidden])"


def shoot(page, url: str, path: Path, errors: list[str], drawn: str = REPORT_DRAWN) -> None:
    before = len(errors)
    page.goto(url)
    page.wait_for_selector(drawn, timeout=120_000)
    page.wait_for_timeout(400)  # transitions settle
    page.screenshot(path=path, full_page=True)
    if len(errors) > before:
        raise SystemExit(f"{url}: {errors[before]}")
    print(path, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("demo"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with served(args.workspace) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for viewport, modes, suffix in ((DESKTOP, ("simple", "expert"), ""), (PHONE, ("simple",), "-phone")):
            page = browser.new_page(viewport=viewport)
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
            for name in CATALOGUE:
                for mode in modes:
                    for lang in ("en", "fr"):
                        url = f"{base}/reports/{name}?mode={mode}&lang={lang}"
                        shoot(page, url, args.out / f"{name}-{mode}-{lang}{suffix}.png", errors)
            for mode in modes:
                for lang in ("en", "fr"):
                    shoot(page, f"{base}/audiences?mode={mode}&lang={lang}",
                          args.out / f"audiences-{mode}-{lang}{suffix}.png", errors, AUDIENCES_DRAWN)
            page.close()
        browser.close()

if __name__ == "__main__":
    sys.exit(main())
