"""The report page in a real browser: Debian's chromium driven by Playwright (nothing is
downloaded at test time). The page's numbers are the JSON's, it makes no request and logs no
error, it prints to PDF, it is usable from the keyboard, and axe-core finds no serious or
critical accessibility violation. A screenshot and the PDF are kept as artefacts in
$COMPLIANCE_ARTEFACTS (default: .artefacts/ in the checkout) for a person to look at."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from compliance.report import page
from compliance.report.figures import iter_numbers

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# .ci/run sets COMPLIANCE_REQUIRE_BROWSER=1: there, a missing browser fails the run rather
# than skipping these tests
if os.environ.get("COMPLIANCE_REQUIRE_BROWSER") and not Path(CHROMIUM).exists():
    pytest.fail(f"{CHROMIUM} is missing; .ci/ensure-chromium installs it", pytrace=False)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is in the dev extra: pip install -e '.[dev]'"
)
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
        allow_module_level=True,
    )


def artefacts() -> Path:
    folder = Path(os.environ.get("COMPLIANCE_ARTEFACTS", ROOT / ".artefacts")) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield launched
        launched.close()


class Opened:
    def __init__(self, tab: Any) -> None:
        self.tab = tab
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []


def open_page(browser: Any, html: Path, **context: Any) -> Opened:
    tab = browser.new_context(**context).new_page()
    opened = Opened(tab)
    tab.on("request", lambda r: opened.requests.append(r.url))
    tab.on(
        "console",
        lambda m: (
            opened.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    tab.on("pageerror", lambda e: opened.errors.append(str(e)))
    tab.goto(html.as_uri())
    tab.wait_for_load_state("load")
    return opened


@pytest.fixture(scope="module")
def example_page(example_figures, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    out.write_text(page.render(example_figures), "utf-8")
    return out


def resolve(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def shown(text: str, value: Any) -> Any:
    """The page's text read back as the JSON's type."""
    text = text.strip()
    if isinstance(value, bool) or value is None:
        return text
    if isinstance(value, int):
        return int(text.replace(",", ""))
    if isinstance(value, float):
        return float(text.replace(",", ""))
    return text


def test_every_number_on_the_page_is_the_jsons(browser, example_page, example_figures):
    opened = open_page(browser, example_page)
    cells = opened.tab.eval_on_selector_all(
        "[data-figure]", "els => els.map(e => [e.dataset.figure, e.textContent])"
    )
    assert len(cells) > 150
    for path, text in cells:
        want = resolve(example_figures, path)
        assert shown(text, want) == (want if not isinstance(want, bool) else str(want)), path
    # the headline figures are all there
    paths = {path for path, _ in cells}
    for required in (
        "trail.entries",
        "decisions.total",
        "decisions.by_outcome.allow",
        "decisions.by_outcome.deny",
        "opt_outs.breached",
        "opt_outs.followed.0.sends_after_deadline",
        "consent.reviews.open",
        "consent.expiring.0.within_30_days",
        "lists.stale",
        "lint.errors",
    ):
        assert required in paths, required
    # and every count of the JSON's decisions, opt-outs and lists is on the page
    for path, value in iter_numbers(example_figures):
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and path.split(".")[0] in ("decisions", "opt_outs", "lists")
        ):
            assert path in paths, path


def test_the_page_makes_no_request_and_logs_no_error(browser, example_page):
    opened = open_page(browser, example_page)
    opened.tab.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert opened.requests == [example_page.as_uri()]
    assert opened.console == []
    assert opened.errors == []
    assert (
        opened.tab.eval_on_selector_all("script, link, img, iframe, object", "e => e.length") == 0
    )


def test_the_page_prints_to_pdf_and_is_kept_with_a_screenshot(browser, example_page):
    opened = open_page(browser, example_page, viewport={"width": 1100, "height": 900})
    folder = artefacts()
    opened.tab.screenshot(path=str(folder / "report.png"), full_page=True)
    opened.tab.emulate_media(media="print")
    assert opened.tab.eval_on_selector("nav", "e => getComputedStyle(e).display") == "none"
    # on A4 every table fits the page: nothing of the breach table is cut off
    overflowing = opened.tab.evaluate(
        """() => { document.body.style.width = '180mm';
            return [...document.querySelectorAll('table')].filter(
              t => t.getBoundingClientRect().right > document.body.getBoundingClientRect().right + 1
            ).map(t => t.querySelector('caption').textContent); }"""
    )
    assert overflowing == []
    opened.tab.evaluate("() => { document.body.style.width = ''; }")
    pdf = opened.tab.pdf(path=str(folder / "report.pdf"), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 20_000
    assert (folder / "report.png").stat().st_size > 50_000


def test_the_page_is_usable_from_the_keyboard(browser, example_page):
    opened = open_page(browser, example_page)
    tab = opened.tab
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.textContent") == "Skip to the report"
    tab.keyboard.press("Enter")
    assert tab.evaluate("location.hash") == "#main"
    # landmarks, one h1, a heading per section, and every table headed
    assert tab.eval_on_selector_all("header, nav, main, footer", "e => e.length") == 4
    assert tab.eval_on_selector_all("h1", "e => e.length") == 1
    assert tab.eval_on_selector_all("section > h2", "e => e.length") == len(page.SECTIONS)
    unheaded = tab.eval_on_selector_all(
        "table",
        "ts => ts.filter(t => !t.querySelector('caption') || !t.querySelector('th[scope]')).length",
    )
    assert unheaded == 0
    # every chart has a name and a description a screen reader reads
    charts = tab.eval_on_selector_all(
        "svg[role=img]",
        "ss => ss.map(s => s.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id)?.textContent || ''))",
    )
    assert len(charts) >= 2
    assert all(name and desc for name, desc in charts)


@pytest.mark.parametrize("width", [1100, 360])
def test_axe_finds_no_serious_or_critical_violation(browser, example_page, width):
    from axe_playwright_python.sync_playwright import Axe

    # axe-core is injected as a script, which the page's own policy forbids: this context
    # alone lets it run. At 360 px (a phone) wide tables scroll, and must take the keyboard.
    opened = open_page(
        browser, example_page, bypass_csp=True, viewport={"width": width, "height": 800}
    )
    results = Axe().run(opened.tab, options={"resultTypes": ["violations"]})
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], results.generate_report()


def test_text_from_the_ledger_cannot_load_or_run_anything(browser, example_figures, tmp_path):
    """Whoever can write a reason, a list name or a subject to the ledger controls text on the
    page: it is escaped, and the page's policy blocks what escaping might miss."""
    hostile = copy.deepcopy(example_figures)
    payload = '<img src="http://example.invalid/x.png" onerror="console.error(1)"><script>console.error(2)</script>'
    hostile["pauses"]["in_force"][0]["reason"] = payload
    hostile["lists"]["lists"][0]["list"] = payload
    hostile["opt_outs"]["followed"][0]["subject"] = payload
    hostile["decisions"]["top_denied_templates"][0]["template"] = "</svg><svg onload=alert(1)>"
    out = tmp_path / "hostile.html"
    out.write_text(page.render(hostile), "utf-8")
    opened = open_page(browser, out)
    assert opened.requests == [out.as_uri()]
    assert opened.console == [] and opened.errors == []
    assert payload in opened.tab.inner_text("#pauses")
