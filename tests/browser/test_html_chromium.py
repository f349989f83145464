"""The HTML report in a real browser: Debian's headless Chromium, driven by Playwright.

Playwright (PyPI ``playwright``) drives ``/usr/bin/chromium`` through
``executable_path``; its own browser download is never used. The test skips
when Chromium or Playwright is missing, and fails then under
``GEARSIM_REQUIRE_PEERS=1`` (CI installs both).

It renders a two-profile report of real runs (every case of a few bundled
files and of the sample project, passes, acceptables, n/a and failures),
opens it from a file:// URL with every network request refused, and checks:
no console errors or page errors, no request left the file, every case has
its chart, the charts have a real size on screen, and the failing step is
drawn. Screenshots go to ``$GEARSIM_ARTIFACTS`` (default: the test's
temporary folder): ``html-report-top.png`` and ``html-report-failure.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gearsim.files import load_requirements, read_vector_file, select
from gearsim.report.html import ReportRun, render_html
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.testing.peer_fixtures import REQUIRE_ENV, peers_required

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_project" / "gearman"
SELECTORS = ["server/status.yaml", "server/disconnect.yaml", "codec/framing.yaml", "client/session.yaml"]
PROFILES = ("gearmand-1.1", "perl-1.130")


def _missing(reason: str) -> None:
    if peers_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() or shutil.which("chromium")):
        _missing("Debian chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    executable = str(CHROMIUM) if CHROMIUM.exists() else str(shutil.which("chromium"))
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _results(profile: str) -> list[CaseResult]:
    selection = select(SELECTORS)
    factory = ModelPeerFactory(profile=profile)
    out = [run_case(vf, vf.case(c), factory, profile) for vf in selection.files for c in selection.chosen(vf)]
    for name in ("jobs.yaml", "known_bugs.yaml"):
        vf = read_vector_file(SAMPLE / name, f"gearman/{name}")
        out += [run_case(vf, c, factory, profile) for c in vf.cases]
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ReportRun]]:
    runs = [ReportRun(p, _results(p), p, "the reference model (seed 0)") for p in PROFILES]
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(runs, load_requirements(), "gearsim report in Chromium"), encoding="utf-8")
    return path, runs


def _artifacts(tmp_path: Path) -> Path:
    out = Path(os.environ.get("GEARSIM_ARTIFACTS", "") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_the_report_renders_with_a_chart_per_case(
    browser: Any, report: tuple[Path, list[ReportRun]], tmp_path: Path
) -> None:
    path, runs = report
    results = [r for run in runs for r in run.results]
    assert {r.verdict for r in results} >= {Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.NOT_APPLICABLE}

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def refuse(route: Any) -> None:
        if not route.request.url.startswith("file://"):
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", refuse)
    page.goto(path.as_uri(), wait_until="load")

    assert problems == []
    assert outside == []
    assert page.title() == "gearsim report in Chromium"

    cases = page.locator("details.case")
    assert cases.count() == len(results)
    # every case's block holds exactly one chart, for that case
    pairs = page.eval_on_selector_all(
        "details.case",
        "els => els.map(e => [e.dataset.caseId, [...e.querySelectorAll('svg.msc')].map(s => s.dataset.caseId)])",
    )
    assert sorted(case for case, _ in pairs) == sorted(r.id for r in results)
    assert all(charts == [case] for case, charts in pairs)

    # open every case; each chart then has a real size and draws its messages
    page.eval_on_selector_all("details.case", "els => els.forEach(e => e.open = true)")
    sizes = page.eval_on_selector_all(
        "svg.msc", "els => els.map(s => { const b = s.getBoundingClientRect(); return [b.width, b.height]; })"
    )
    assert len(sizes) == len(results)
    assert all(w > 100 and h > 30 for w, h in sizes)
    with_messages = [r for r in results if any(rec.message is not None for rec in r.records)]
    arrows = page.eval_on_selector_all(
        "svg.msc", "els => els.map(s => [s.dataset.caseId, s.querySelectorAll('g.msg').length])"
    )
    assert sum(1 for _, n in arrows if n > 0) >= len(with_messages)

    # the failing steps are drawn
    failed = [r for r in results if r.verdict is Verdict.FAIL and r.records]
    assert failed
    assert page.locator("svg.msc g.failure").count() >= len(failed)
    artifacts = _artifacts(tmp_path)
    page.eval_on_selector_all("details.case", "els => els.forEach(e => e.open = e.dataset.verdict === 'fail')")
    page.screenshot(path=str(artifacts / "html-report-top.png"))
    first_failure = page.locator("details.case.v-fail:has(svg.msc g.failure)").first
    first_failure.scroll_into_view_if_needed()
    first_failure.screenshot(path=str(artifacts / "html-report-failure.png"))
    assert (artifacts / "html-report-top.png").stat().st_size > 10_000
    assert (artifacts / "html-report-failure.png").stat().st_size > 5_000
    assert problems == []
    page.close()
