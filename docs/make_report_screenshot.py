"""Refresh docs/report.png, the README's picture of the report, from the example ledger.

    python docs/make_report_screenshot.py

Needs the dev extra (Playwright) and Debian's chromium, as the browser tests do.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from playwright.sync_api import sync_playwright

    # the ledger is made in the checkout, and named as the README names it, so that the
    # picture shows the paths a reader types
    ledger = ROOT / "demo-ledger.db"
    if ledger.exists():
        print(f"error: {ledger} exists; move it away first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        try:
            subprocess.run(
                [sys.executable, "examples/make_ledger.py", ledger.name], cwd=ROOT, check=True
            )
            subprocess.run(
                [
                    "compliance",
                    "report",
                    "--repo",
                    "examples/acme",
                    "--ledger",
                    ledger.name,
                    "--until",
                    "2026-12-01T00:00:00Z",
                    "-o",
                    str(page),
                ],
                cwd=ROOT,
                check=True,
            )
        finally:
            for made in (
                ledger,
                ledger.with_name(ledger.name + "-wal"),
                ledger.with_name(ledger.name + "-shm"),
            ):
                made.unlink(missing_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-background-networking"],
            )
            tab = browser.new_page(viewport={"width": 1100, "height": 1250})
            tab.goto(page.as_uri())
            tab.screenshot(path=str(ROOT / "docs" / "report.png"))
            browser.close()
    print("wrote docs/report.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
