"""Page benchmark: every page in Chromium (Debian's /usr/bin/chromium) against a running server.

For each page: whether it renders (its chart or its empty state), console errors, and the time
to a drawn chart (median of `--runs`) on three visits:
- cold: a new browser profile (nothing cached: plotly.js, 1.4 MB, is fetched and compiled);
- first: the first visit to this page in a browser that has shown another page before;
- repeat: the same page again.

    .venv/bin/parcours serve -w demo &
    .venv/bin/python benchmarks/pages.py --base http://127.0.0.1:8000 [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def visit(page, url: str) -> float:
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#chart .main-svg, #empty:not([hidden])", timeout=60_000)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="http://127.0.0.1:8000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    names = [r["name"] for r in json.load(urllib.request.urlopen(f"{args.base}/api/v1/reports"))]
    print(f"{'page':<18}{'renders':>8}{'errors':>7}{'cold ms':>9}{'first ms':>10}{'repeat ms':>10}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for name in names:
            url = f"{args.base}/reports/{name}"
            other = f"{args.base}/reports/{names[(names.index(name) + 1) % len(names)]}"
            cold, first, repeat, errors = [], [], [], []
            for _ in range(args.runs):
                for warm in (False, True):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                    if warm:
                        visit(page, other)
                        first.append(visit(page, url))
                        repeat.append(visit(page, url))
                    else:
                        cold.append(visit(page, url))
                    context.close()
            print(f"{name:<18}{'yes':>8}{len(errors):>7}{statistics.median(cold):>9.0f}"
                  f"{statistics.median(first):>10.0f}{statistics.median(repeat):>10.0f}")
        browser.close()


if __name__ == "__main__":
    main()
