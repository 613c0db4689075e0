"""The documentation site, tested as a reader meets it.

- the strict MkDocs build passes (broken links, missing includes, bad docstrings fail it);
- in headless Chromium, served from 127.0.0.1 with no network: every nav page loads without
  console errors, every image loads, math is typeset (also in notebook pages), and the nav
  reaches exactly the pages listed in mkdocs.yml, in the learner's order (Home, Learn, the guide,
  Evidence, Practice, Appendix); a reader whose system is dark gets the dark scheme with the
  figures on white cards; every generated figure has a caption with a number; no table scrolls
  sideways at a 1440 px window; exercise answers start hidden;
- the learner pages embed no verdict block and show p-values only in collapsed details;
- the built pages: API signatures wrapped at mkdocstrings' line_length, notebook pages with the
  repository of mkdocs.yml filled in;
- no page types a measured number by hand: measured numbers reach pages only through the
  generated files in docs/generated/.

The browser test needs Chromium (Debian: ``apt-get install -y chromium``) and the ``playwright``
package (in the ``test`` extra). It is skipped, with the reason, when either is missing, except
under CI (``CI`` set), where a skipped browser test would hide a broken site, so it fails instead.
Set ``LOSSDEMO_CHROMIUM`` to use a particular browser binary, and ``LOSSDEMO_ARTIFACTS_DIR`` to
keep the home-page screenshot.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
import yaml
from support import REPO_ROOT

DOCS = REPO_ROOT / "docs"
# Folders under docs/ that are not hand-written pages.
# Written by code, not by hand: docs/generated (the published site), docs/local (a reader's own
# reproduce, shown by `mkdocs serve`), the notebooks and vendored assets.
NOT_HAND_WRITTEN = ("generated", "local", "notebooks", "assets")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOSS_PAGE_WITH_MATH = "losses/focal.md"
# The learner's path (issue #24): the nav's top-level entries, in order.
NAV_SECTIONS = ["Home", "Learn", "Which loss should I use?", "Evidence", "Practice", "Appendix"]
# Pages a learner reads before the evidence: no verdict blocks, no p-values outside collapsed
# details, answers hidden. No page at all has a table wider than its column at a 1440 px window.
LEARNER_PAGES = ["index.md", "losses/cross-entropy.md", "losses/mae.md", "losses/focal.md", "losses/remedies.md",
                 "guide.md"]
# How the site writes a p-value or a corrected one: "p 0.008 → 0.220", "p < 0.001 → 0.043", "Holm-adjusted".
P_VALUE = re.compile(r"\bp\s+(?:<\s*)?\d*\.\d+\s*→|→\s*Holm|\bHolm-adjusted\b|\bp-values?\b")
LEARNER_SECTIONS = ("Learn", "Practice")  # every page under these is a learner page too
VIEWPORT = {"width": 1440, "height": 900}
# Generated files that state verdicts in full: each has one home, on an evidence page.
VERDICT_FILES = re.compile(r'--8<--\s*"generated/(?:\w|-)*(?:_verdicts|claims_table|verdict_rules)\.md"')
NOTEBOOK_PAGE_WITH_MATH = "notebooks/focal-from-scratch.ipynb"
# Material fetches the repository's star and fork counts from GitHub for the header. That is
# optional decoration; offline it is answered with a stub so the test sees only the site's own files.
GITHUB_FACTS_HOST = "api.github.com"


# --------------------------------------------------------------------------------------------
# The strict build


def _nav_pages(nav) -> list[str]:
    """Source paths of every page in mkdocs.yml's nav, in order."""
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages.extend(_nav_pages(value))
        elif not re.match(r"[a-z]+://", value):  # external links are not pages
            pages.append(value)
    return pages


def _page_url_path(source: str) -> str:
    """URL path of a page under use_directory_urls: 'losses/mae.md' -> 'losses/mae/'."""
    stem = source.rsplit(".", 1)[0]
    if stem == "index":
        return ""
    return (stem[: -len("/index")] if stem.endswith("/index") else stem) + "/"


@functools.cache
def _mkdocs_config() -> dict:
    return yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The site built once per test session with ``mkdocs build --strict``."""
    site_dir = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=REPO_ROOT,  # snippet paths (base_path: docs) are relative to the working directory
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    if build.returncode != 0:
        problems = [line for line in build.stderr.splitlines() if re.match(r"(WARNING|ERROR)\b", line)]
        pytest.fail("mkdocs build --strict failed:\n" + "\n".join(problems or build.stderr.splitlines()[-40:]))
    print(f"mkdocs build --strict took {time.perf_counter() - started:.1f} s")
    return site_dir


def test_strict_build_passes_and_writes_every_nav_page(built_site):
    for source in _nav_pages(_mkdocs_config()["nav"]):
        page = built_site / _page_url_path(source) / "index.html"
        assert page.is_file(), f"{source} in nav but {page.relative_to(built_site)} was not built"


def test_nav_lists_the_three_notebooks():
    notebooks = [page for page in _nav_pages(_mkdocs_config()["nav"]) if page.endswith(".ipynb")]
    assert notebooks == ["notebooks/quickstart.ipynb", "notebooks/focal-from-scratch.ipynb",
                         "notebooks/bring-your-own-data.ipynb", "notebooks/exercises.ipynb"]


def test_nav_follows_the_learners_path():
    """Home, then the losses, then the advice, then the evidence behind it, then practice; method last."""
    titles = [next(iter(entry)) if isinstance(entry, dict) else entry for entry in _mkdocs_config()["nav"]]
    assert titles == NAV_SECTIONS


def _learner_pages() -> list[str]:
    pages = list(LEARNER_PAGES)
    for entry in _mkdocs_config()["nav"]:
        if isinstance(entry, dict) and next(iter(entry)) in LEARNER_SECTIONS:
            pages += [page for page in _nav_pages(next(iter(entry.values()))) if page not in pages]
    return pages


@pytest.mark.parametrize("page", [page for page in LEARNER_PAGES])
def test_learner_pages_embed_no_verdict_block(page):
    """A verdict is stated in full on its evidence page and linked from the learner pages."""
    source = (DOCS / page).read_text(encoding="utf-8")
    assert not VERDICT_FILES.findall(source), f"{page} embeds {VERDICT_FILES.findall(source)}"


def test_the_verdict_block_check_catches_an_embedded_block():
    assert VERDICT_FILES.findall('???+ abstract "Verdicts"\n\n    --8<-- "generated/label_noise_verdicts.md"')
    assert VERDICT_FILES.findall('--8<-- "generated/claims_table.md"')
    assert not VERDICT_FILES.findall('--8<-- "generated/learn_focal_findings.md"')


def test_the_p_value_check_catches_the_sites_p_values():
    for shown in ("(p 0.008 → 0.220)", "p < 0.001 → 0.043", "p → Holm", "the Holm-adjusted p", "its p-value"):
        assert P_VALUE.search(shown), shown
    assert not P_VALUE.search("focal loss with p = 0.5 and $p_y$")


def test_learner_pages_show_p_values_only_in_collapsed_details(built_site):
    """Plain words first: p-values and multiple-test corrections sit in closed details on learner pages."""
    for source in _learner_pages():
        page = (built_site / _page_url_path(source) / "index.html").read_text(encoding="utf-8")
        article = re.search(r"<article[^>]*>(.*)</article>", page, re.S).group(1)
        article = re.sub(r"<script.*?</script>", " ", article, flags=re.S)
        closed = re.compile(r"<details(?![^>]*\bopen\b)[^>]*>(?:(?!<details).)*?</details>", re.S)
        while closed.search(article):  # innermost first, so nested details go with their parent
            article = closed.sub(" ", article)
        text = html.unescape(re.sub(r"<[^>]+>", " ", article))
        shown = P_VALUE.search(text)
        assert not shown, f"{source} shows a p-value outside collapsed details: {shown.group(0)!r}"


def test_notebook_pages_name_the_repository_of_mkdocs_yml(built_site):
    """The notebooks' install cells name repo_url's repository, and the link bar opens it on Colab and Binder."""
    repo_url = _mkdocs_config()["repo_url"].rstrip("/")
    owner_and_name = repo_url.removeprefix("https://github.com/")
    for source in _nav_pages(_mkdocs_config()["nav"]):
        if source.endswith(".ipynb"):
            page = (built_site / _page_url_path(source) / "index.html").read_text(encoding="utf-8")
            assert f"git+{repo_url}" in page, f"{source}: no install line for {repo_url}"
            assert f"colab.research.google.com/github/{owner_and_name}/" in page
            assert f"mybinder.org/v2/gh/{owner_and_name}/" in page


def test_api_signatures_are_wrapped_at_the_configured_line_length(built_site):
    """mkdocstrings formats signatures only when a formatter (black, in the docs extra) is installed;
    without one a long signature stays on one line and is clipped on the page."""
    (plugin,) = [entry["mkdocstrings"] for entry in _mkdocs_config()["plugins"]
                 if isinstance(entry, dict) and "mkdocstrings" in entry]
    options = plugin["handlers"]["python"]["options"]
    page = (built_site / "api" / "index.html").read_text(encoding="utf-8")
    signatures = [re.sub(r"<[^>]+>", "", block) for block in
                  re.findall(r'<div class="doc-signature[^"]*"[^>]*>(.*?)</div>', page, re.S)]
    assert signatures, "the API page shows no separate signatures"
    lines = [line for signature in signatures for line in html.unescape(signature).splitlines()]
    too_long = [line for line in lines if len(line) > options["line_length"]]
    assert too_long == [], f"signature lines longer than line_length {options['line_length']}: {too_long}"
    assert any("\n" in signature.strip() for signature in signatures), "no signature was broken across lines"


# --------------------------------------------------------------------------------------------
# In a browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest's output readable
        pass


@contextlib.contextmanager
def _serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _skip_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser test may not be skipped)")
    pytest.skip(reason)


def _find_chromium() -> str | None:
    if os.environ.get("LOSSDEMO_CHROMIUM"):
        return os.environ["LOSSDEMO_CHROMIUM"]
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def _open(context, url: str):
    """Open ``url`` in a new tab; returns (page, problems), where problems collects console
    errors, uncaught exceptions and failed requests to the local server."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} ({request.failure})"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, f"{url} answered {response and response.status}"
    page.wait_for_load_state("networkidle")
    return page, problems


def _broken_images(page) -> list[str]:
    return page.eval_on_selector_all(
        "img", "images => images.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src)")


@pytest.mark.browser
def test_site_in_headless_chromium(built_site, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is not installed (pip install -e '.[test]')")
    chromium = _find_chromium()
    if chromium is None:
        _skip_or_fail(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); "
                      "install it with: apt-get install -y chromium")
    artifacts = Path(os.environ.get("LOSSDEMO_ARTIFACTS_DIR") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    nav_sources = _nav_pages(_mkdocs_config()["nav"])
    external_requests: list[str] = []

    def keep_local(route):
        """Serve only from 127.0.0.1: anything else would need a network the site must not need."""
        url = route.request.url
        if url.startswith(base_url) or url.startswith("data:"):
            route.continue_()
        elif urlparse(url).hostname == GITHUB_FACTS_HOST:
            route.fulfill(status=200, content_type="application/json",
                          body=json.dumps({"stargazers_count": 0, "forks_count": 0, "tag_name": "v0"}))
        else:
            external_requests.append(url)
            route.abort()

    started = time.perf_counter()
    with _serve(built_site) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, service_workers="block")
            context.route("**/*", keep_local)

            # Home page: screenshot, the nav's sections in the learner's order, and the nav links it offers.
            home, problems = _open(context, base_url)
            sections = home.eval_on_selector_all(
                "nav.md-nav--primary > ul.md-nav__list > li.md-nav__item",
                "items => items.map(item => (item.querySelector(':scope > label, :scope > a')"
                " || item).textContent.trim())")
            assert [section.split("\n")[0].strip() for section in sections] == NAV_SECTIONS, sections
            home.screenshot(path=str(artifacts / "home.png"), full_page=True)
            assert not problems, f"home page: {problems}"
            assert home.locator("img").count() > 0, "the home page should show the headline figures"
            assert not _broken_images(home), f"home page images that did not load: {_broken_images(home)}"
            nav_links = home.eval_on_selector_all("nav.md-nav--primary a.md-nav__link[href]",
                                                  "links => links.map(link => link.href)")
            reached = {urldefrag(link).url for link in nav_links if link.startswith(base_url)}
            expected = {base_url + _page_url_path(source) for source in nav_sources}
            assert reached == expected, (f"nav links missing: {sorted(expected - reached)}; "
                                         f"not in mkdocs.yml nav: {sorted(reached - expected)}")
            assert home.evaluate("() => document.body.dataset.mdColorScheme") == "default", "light system, light site"
            home.close()

            # A reader whose system is dark gets the dark scheme, and the figures on white cards.
            dark_context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block",
                                               color_scheme="dark")
            dark_context.route("**/*", keep_local)
            dark, problems = _open(dark_context, base_url + _page_url_path("experiment.md"))
            assert not problems, f"experiment page, dark: {problems}"
            assert dark.evaluate("() => document.body.dataset.mdColorScheme") == "slate", "dark system, dark site"
            backgrounds = dark.eval_on_selector_all(".md-typeset img[src*='generated/'], .md-typeset img[src*='local/']",
                                                    "images => images.map(i => getComputedStyle(i).backgroundColor)")
            assert backgrounds and set(backgrounds) == {"rgb(255, 255, 255)"}, f"figure backgrounds: {backgrounds}"
            dark_context.close()

            # Every nav page: loads (200), no console errors, every image loaded.
            for source in nav_sources:
                url = base_url + _page_url_path(source)
                assert _status(url) == 200, url
                page, problems = _open(context, url)
                assert not problems, f"{source}: {problems}"
                assert not _broken_images(page), f"{source}: images that did not load: {_broken_images(page)}"

                _check_figures_have_captions(page, source)
                if source in _learner_pages():
                    _check_answers_start_hidden(page, source)
                _check_no_sideways_tables(page, source)

                if source == LOSS_PAGE_WITH_MATH:
                    # Every formula left by arithmatex has been replaced by KaTeX output.
                    page.wait_for_function(
                        "() => { const math = [...document.querySelectorAll('.arithmatex')];"
                        " return math.length > 0 && math.every(e => e.querySelector('.katex')); }",
                        timeout=10_000)
                if source == EXPLORER_PAGE:
                    _check_focal_explorer(page)
                if source == NOTEBOOK_PAGE_WITH_MATH:
                    _check_notebook_page(page, base_url + _page_url_path(source), source)
                page.close()
        finally:
            browser.close()
    assert not external_requests, f"the site asked for resources outside 127.0.0.1: {external_requests}"
    print(f"browser test took {time.perf_counter() - started:.1f} s; screenshot: {artifacts / 'home.png'}")


def _check_figures_have_captions(page, source: str) -> None:
    """Every generated figure sits in a <figure> whose <figcaption> states its takeaway with a number."""
    missing = page.eval_on_selector_all(
        ".md-typeset img[src*='generated/']",
        "images => images.filter(img => { const caption = img.closest('figure')?.querySelector('figcaption');"
        " return !caption || !/[0-9]/.test(caption.textContent); }).map(img => img.getAttribute('src'))")
    assert not missing, f"{source}: generated figures without a caption that has a number: {missing}"


def _check_no_sideways_tables(page, source: str) -> None:
    """No table is wider than its column at the test's window: tables must not scroll sideways.
    Closed details and hidden tabs are shown first, since a reader who opens them meets the same width."""
    page.evaluate("() => { document.querySelectorAll('.md-typeset details').forEach(d => d.open = true);"
                  " document.querySelectorAll('.md-typeset .tabbed-block').forEach(b => b.style.display = 'block'); }")
    too_wide = page.eval_on_selector_all(
        ".md-typeset table",
        "tables => tables.filter(t => { const box = t.closest('.md-typeset__scrollwrap') || t.parentElement;"
        " return box.scrollWidth > box.clientWidth + 1; })"
        ".map(t => `${t.scrollWidth}px in ${(t.closest('.md-typeset__scrollwrap') || t.parentElement).clientWidth}px: `"
        " + t.innerText.slice(0, 60).replace(/\\s+/g, ' '))")
    page.reload(wait_until="load")
    assert not too_wide, f"{source}: tables that scroll sideways at {VIEWPORT['width']} px: {too_wide}"


def _check_answers_start_hidden(page, source: str) -> None:
    """Answers are one click away: every answer's details element starts closed."""
    open_answers = page.eval_on_selector_all(
        ".md-typeset details.success, .md-typeset details.question, .jupyter-wrapper details",
        "items => items.filter(d => d.open).map(d => (d.querySelector('summary') || d).textContent.trim())")
    assert not open_answers, f"{source}: answers shown before they are asked for: {open_answers}"


EXPLORER_PAGE = "index.md"  # the loss explorer (docs/includes/explorer.md), the Home page's first figure
EXPLORER = ".lossdemo-explorer"
# Settings the read-outs are checked at against autograd: (γ, q) pairs, and p_y on the marker's grid.
EXPLORER_SETTINGS = ((0.0, 1.0), (0.5, 0.7), (2.0, 0.3), (5.0, 0.05))
EXPLORER_PROBABILITIES = (0.05, 0.1, 0.5, 0.9)
EXPLORER_SPECS = {"ce": "ce", "mae": "mae", "focal": "focal:{gamma:g}", "gce": "gce:{q:g}"}
TEXT_CONTRAST, CURVE_CONTRAST = 4.5, 3.0  # WCAG: normal text; graphical objects


def _relative_luminance(colour: str) -> float:
    channels = [int(value) / 255 for value in re.findall(r"[\d.]+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two opaque CSS colours, "rgb(r, g, b)"."""
    darker, lighter = sorted((_relative_luminance(first), _relative_luminance(second)))
    return (lighter + 0.05) / (darker + 0.05)


def _explorer(page, expression: str):
    return page.evaluate(f"() => {{ const view = window.lossdemoExplorer.views[0]; return {expression}; }}")


def _explorer_canvas(page) -> str:
    return page.evaluate(f"() => document.querySelector('{EXPLORER} canvas').toDataURL()")


def _check_explorer_colours(page, scheme: str) -> None:
    """The colours the explorer draws with: its background is the page's, its axis text readable on it
    (4.5:1), every curve visible on it (3:1)."""
    assert page.evaluate("() => document.body.dataset.mdColorScheme") == scheme
    colours = _explorer(page, "view.state.colours")
    page_background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert colours["background"] == page_background, (scheme, colours, page_background)
    assert _contrast(colours["text"], colours["background"]) >= TEXT_CONTRAST, (scheme, colours)
    for name, curve in colours["curves"].items():
        assert _contrast(curve, colours["background"]) >= CURVE_CONTRAST, (scheme, name, curve, colours["background"])


def _check_focal_explorer(page) -> None:
    """The loss explorer: toggles and sliders redraw it; its read-outs match the package's autograd
    values; the axes hold every curve's peak; the marker follows a drag and the keyboard; the measured
    γ beside it comes from the generated snippet and links to its evidence; it is readable in both
    colour schemes and follows a switch between them."""
    import numpy as np

    from lossdemo.losses import loss_title
    from lossdemo.report.loss_shapes import probability_curves, push_on_true_logit

    page.wait_for_selector(f"{EXPLORER} canvas")
    page.wait_for_function("() => window.lossdemoExplorer && window.lossdemoExplorer.views.length > 0")
    root = page.locator(EXPLORER)
    slider = {name: root.locator(f"input[type=range][data-setting={name}]") for name in ("gamma", "q", "p")}

    # Each toggle changes the drawing and the read-out rows.
    for name in EXPLORER_SPECS:
        box = root.locator(f"input[type=checkbox][value={name}]")
        assert box.is_checked(), f"{name} should be drawn at first"
        before = _explorer_canvas(page)
        box.uncheck()
        assert _explorer_canvas(page) != before, f"switching {name} off should redraw the curves"
        assert root.locator(f"[data-readout] tr[data-loss={name}]").count() == 0
        box.check()
        assert root.locator(f"[data-readout] tr[data-loss={name}]").count() == 1

    # The read-outs at the marker equal autograd's push, for every loss, at several γ, q and p_y.
    for gamma, q in EXPLORER_SETTINGS:
        slider["gamma"].fill(f"{gamma:g}")
        slider["q"].fill(f"{q:g}")
        for probability in EXPLORER_PROBABILITIES:
            slider["p"].fill(f"{probability:g}")
            assert root.locator("output[data-show=p]").inner_text() == f"{probability:g}"
            for name, template in EXPLORER_SPECS.items():
                spec = template.format(gamma=gamma, q=q)
                row = root.locator(f"[data-readout] tr[data-loss={name}]")
                assert row.locator("th").inner_text().strip() == loss_title(spec)
                expected = push_on_true_logit(spec, probability)
                push = row.locator("td[data-value=push]")
                shown = float(push.get_attribute("data-number"))
                assert abs(shown - expected) < 1e-5, (spec, probability, shown, expected)
                assert abs(float(push.inner_text()) - expected) <= 5e-4 + 1e-9, (spec, probability, push.inner_text())
                share = float(row.locator("td[data-value=share]").get_attribute("data-number"))
                assert abs(share - expected / (1 - probability)) < 1e-5, (spec, probability, share)

    # γ = 5: the push peak (near p_y = 0.05) and the share's peak lie inside the axes; the loss axis
    # is cut (CE grows without bound) and the page says so.
    slider["gamma"].fill("5")
    grid = np.linspace(0.0025, 0.9975, 399)
    curve = probability_curves(("focal:5",), 10, grid)["focal:5"]
    axes = _explorer(page, "view.state.axes")
    assert curve.true_logit_push.max() <= axes["push"]["max"] <= 2 * curve.true_logit_push.max(), axes["push"]
    assert (curve.true_logit_push / (1 - grid)).max() <= axes["share"]["max"], axes["share"]
    assert axes["loss"]["clipped"] and "axis stops" in root.locator("[data-clip-note]").inner_text()
    for name in ("ce", "mae", "gce"):
        root.locator(f"input[type=checkbox][value={name}]").uncheck()
    axes = _explorer(page, "view.state.axes")
    assert curve.true_logit_push.max() <= axes["push"]["max"], ("focal alone", axes["push"])
    for name in ("ce", "mae", "gce"):
        root.locator(f"input[type=checkbox][value={name}]").check()

    # The marker follows a drag on the plot, and the arrow keys on its slider.
    canvas = root.locator("canvas").bounding_box()
    boxes = _explorer(page, "view.plan.boxes")
    push_box = boxes[1]
    y = canvas["y"] + (push_box["y0"] + push_box["y1"]) / 2
    page.mouse.move(canvas["x"] + push_box["x0"] + 0.2 * (push_box["x1"] - push_box["x0"]), y)
    page.mouse.down()
    page.mouse.move(canvas["x"] + push_box["x0"] + 0.6 * (push_box["x1"] - push_box["x0"]), y, steps=5)
    page.mouse.up()
    assert abs(float(slider["p"].input_value()) - 0.6) <= 0.011, slider["p"].input_value()
    before = float(slider["p"].input_value())
    slider["p"].focus()
    page.keyboard.press("ArrowRight")
    assert abs(float(slider["p"].input_value()) - before - 0.01) < 1e-9
    assert float(root.locator("[data-readout] tr[data-loss=ce] td[data-value=push]").get_attribute("data-number")) \
        == pytest.approx(1 - before - 0.01)

    # Beside the plot: the nearest measured γ from the generated snippet, linked to its evidence.
    data = json.loads(page.locator("#lossdemo-explorer-measured").text_content())
    measured = root.locator("[data-measured]")
    if data["datasets"]:
        rows = data["datasets"][0]["rows"]
        for gamma in (2.25, 4.25, 0.0):
            slider["gamma"].fill(f"{gamma:g}")
            nearest = min(rows, key=lambda row: abs(row["gamma"] - gamma))
            assert float(measured.get_attribute("data-gamma")) == nearest["gamma"]
            chosen = measured.locator(f"tr[data-gamma='{nearest['gamma']:g}']").first
            assert chosen.locator("td[data-value=accuracy]").inner_text() == nearest["accuracy_text"]
            assert chosen.locator("td[data-value=ece]").inner_text() == nearest["ece_text"]
        link = measured.locator("a[data-evidence]").get_attribute("href")
        target, section = urldefrag(link)
        assert target.endswith("/claims/gamma-sweep/") and _status(target) == 200, link
        with urllib.request.urlopen(target, timeout=10) as response:
            assert f'id="{section}"' in response.read().decode(), f"{link}: no such heading"
    else:
        assert "No measurements" in measured.inner_text()

    # Readable in the light scheme, after a switch to the dark one and back, and in a dark context.
    _check_explorer_colours(page, "default")
    redraws = _explorer(page, "view.redraws")
    page.evaluate("() => { document.body.dataset.mdColorScheme = 'slate'; }")
    page.wait_for_function(f"() => window.lossdemoExplorer.views[0].redraws > {redraws}")
    _check_explorer_colours(page, "slate")
    page.evaluate("() => { document.body.dataset.mdColorScheme = 'default'; }")
    _check_explorer_colours(page, "default")
    _check_explorer_in_dark_context(page)


def _check_explorer_in_dark_context(page) -> None:
    """The explorer's page opened afresh by a reader whose system is dark, served from the same place."""
    origin = "{0.scheme}://{0.netloc}/".format(urlparse(page.url))
    outside: list[str] = []

    def local_only(route):
        url = route.request.url
        if url.startswith(origin) or url.startswith("data:"):
            route.continue_()
        elif urlparse(url).hostname == GITHUB_FACTS_HOST:
            route.fulfill(status=200, content_type="application/json", body="{}")
        else:
            outside.append(url)
            route.abort()

    context = page.context.browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block",
                                               color_scheme="dark")
    try:
        context.route("**/*", local_only)
        dark, problems = _open(context, page.url)
        dark.wait_for_function("() => window.lossdemoExplorer && window.lossdemoExplorer.views.length > 0")
        _check_explorer_colours(dark, "slate")
        assert not problems, f"explorer page, dark: {problems}"
    finally:
        context.close()
    assert not outside, f"the explorer's page asked for resources outside the site: {outside}"


def _check_notebook_page(page, page_url: str, source: str) -> None:
    """Math in Markdown cells is typeset; the download and Colab links are there and work."""
    page.wait_for_selector(".jupyter-wrapper .jp-RenderedMarkdown .katex", timeout=10_000)
    untypeset = page.evaluate(
        "() => [...document.querySelectorAll('.jupyter-wrapper .jp-RenderedMarkdown')].map(cell => {"
        "  const copy = cell.cloneNode(true); copy.querySelectorAll('.katex').forEach(k => k.remove());"
        "  return copy.textContent; }).filter(text => /\\$[^$\\s][^$]*\\$/.test(text))")
    assert not untypeset, f"{source}: $...$ left untypeset in {untypeset}"

    name = Path(source).name
    download = page.locator(".lossdemo-notebook-links a[download]")
    assert download.get_attribute("href") == name
    with urllib.request.urlopen(page_url + name, timeout=10) as response:
        assert "cells" in json.load(response), f"{name} offered for download is not a notebook"
    colab = page.locator(".lossdemo-notebook-links a", has_text="Open in Colab").get_attribute("href")
    assert colab.startswith("https://colab.research.google.com/github/"), colab
    assert colab.endswith(f"/blob/main/docs/{source}"), colab


# --------------------------------------------------------------------------------------------
# No hand-typed measured numbers

# Citations of published results may quote their numbers inside such a region:
#   <!-- published: Lin et al. 2017, ... -->  ...  <!-- /published -->
CODE_SPAN = re.compile(r"`+[^`\n]*`+")
HTML_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
PUBLISHED_REGION = re.compile(r"<!--\s*published\b.*?-->.*?<!--\s*/published\s*-->", re.S)
PERCENTAGE = re.compile(r"\d+(?:\.\d+)?\s*(?:\\?%|per\s?cent\b)", re.I)
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.])")
# A percentage right before one of these is the level of an interval or a test, a setting: "a 95 % interval".
CONFIDENCE_LEVEL = re.compile(r"\s*(?:interval|level|confidence)\b", re.I)
# A decimal right after one of these is a setting or an identifier, not a measurement:
# "focal:0.5", "$\gamma = 0.5$", "γ ∈ {0.5, 1, 2}", "beta = 0.999", "arXiv:2011.14439", "ls:0.1",
# "lr 0.05", "learning rate (0.05)", "momentum 0.9", "$q = 0.7$".
SETTING_BEFORE = re.compile(r"(?:γ|\\gamma|gamma|β|\\beta|beta|α|\\alpha|alpha|ε|\\varepsilon|epsilon|τ|\\tau|"
                            r"focal:|ls:|gce:|la-ce:|arXiv:|\blr\b|learning rate|shared rate|momentum|"
                            r"(?<![\w\\])q\b)[^.\n]{0,16}$", re.I)


def hand_typed_numbers(markdown: str) -> list[str]:
    """Percentages and decimals in a page's source that look like measurements.

    Measured numbers must come from generated files (``--8<-- "generated/..."``); a hand-typed
    one goes stale the moment results are regenerated. Returns the offending snippets.
    """
    text = PUBLISHED_REGION.sub(" ", markdown)
    text = CODE_SPAN.sub(" ", text)  # `focal:0.5`, ``1.0``: identifiers and literals, not measurements
    text = HTML_TAG.sub(" ", text)  # <input step="0.25">: markup attributes, not measurements
    found = [match.group(0) for match in PERCENTAGE.finditer(text) if not CONFIDENCE_LEVEL.match(text, match.end())]
    text = PERCENTAGE.sub(" ", text)  # report each percentage once, not again as a decimal
    for match in DECIMAL.finditer(text):
        if not SETTING_BEFORE.search(text[max(0, match.start() - 40): match.start()]):
            found.append(text[max(0, match.start() - 20): match.end()].replace("\n", " "))
    return found


def hand_written_pages(docs_dir: Path) -> list[Path]:
    return sorted(path for path in docs_dir.rglob("*.md")
                  if path.relative_to(docs_dir).parts[0] not in NOT_HAND_WRITTEN)


def test_hand_written_pages_exist():
    pages = {path.relative_to(DOCS).as_posix() for path in hand_written_pages(DOCS)}
    assert {"index.md", "losses/mae.md", "losses/focal.md", "experiment.md"} <= pages


@pytest.mark.parametrize("page", hand_written_pages(DOCS), ids=lambda path: path.relative_to(DOCS).as_posix())
def test_no_measured_number_is_typed_into_a_page(page):
    offending = hand_typed_numbers(page.read_text(encoding="utf-8"))
    assert not offending, (f"{page.relative_to(REPO_ROOT)} types numbers by hand: {offending}. Include them from "
                           "docs/generated/ instead, or wrap a published paper's numbers in "
                           "<!-- published: ... --> ... <!-- /published -->")


# The modules docs/api.md renders (their docstrings are a page of the site too).
API_MODULES = tuple(line.removeprefix("::: ").strip() for line in (DOCS / "api.md").read_text().splitlines()
                    if line.startswith("::: "))


def _docstrings(module_name: str) -> list[tuple[str, str]]:
    module = importlib.import_module(module_name)
    found = [(module_name, module.__doc__ or "")]
    for name, member in inspect.getmembers(module):
        if (inspect.isfunction(member) or inspect.isclass(member)) and member.__module__ == module_name:
            found.append((f"{module_name}.{name}", inspect.getdoc(member) or ""))
            if inspect.isclass(member):
                found += [(f"{module_name}.{name}.{method_name}", inspect.getdoc(method) or "")
                          for method_name, method in inspect.getmembers(member, inspect.isfunction)
                          if method_name in vars(member)]  # inherited methods (nn.Module's) are not rendered
    return found


@pytest.mark.parametrize("module_name", API_MODULES)
def test_no_measured_number_is_typed_into_the_api_page(module_name):
    offending = {where: found for where, text in _docstrings(module_name) if (found := hand_typed_numbers(text))}
    assert not offending, f"docstrings rendered on docs/api.md type numbers by hand: {offending}"


def test_no_measured_number_is_typed_into_generated_setup_text():
    from lossdemo.experiments import EXPERIMENTS
    from lossdemo.report.tables import RECIPE_REASONS

    texts = {f"{name}: question and epochs reason": experiment.question + " " + experiment.epochs_reason
             for name, experiment in EXPERIMENTS.items()}
    texts |= {f"reason for {setting}": reason for setting, reason in RECIPE_REASONS.items()}
    offending = {where: found for where, text in texts.items() if (found := hand_typed_numbers(text))}
    assert not offending, f"setup text written into docs/generated types numbers by hand: {offending}"


def test_the_number_check_catches_a_fake_page(tmp_path):
    docs = tmp_path / "docs"
    (docs / "losses").mkdir(parents=True)
    (docs / "generated").mkdir()
    (docs / "losses" / "fake.md").write_text(
        "Focal loss with $\\gamma = 0.5$ (spec `focal:0.5`) reached 91.3% test accuracy,\n"
        "while MAE stayed at an accuracy of 0.41 and CE converged at 12.5 epochs.\n", encoding="utf-8")
    (docs / "generated" / "table.md").write_text("| ce | 91.3 ± 0.4 |\n", encoding="utf-8")

    pages = hand_written_pages(docs)
    assert pages == [docs / "losses" / "fake.md"], "generated files are not hand-written pages"
    offending = hand_typed_numbers(pages[0].read_text(encoding="utf-8"))
    assert any("91.3%" in item for item in offending)
    assert any("0.41" in item for item in offending)
    assert any("12.5" in item for item in offending)
    assert not any("0.5" in item and "gamma" in item for item in offending)
    assert len(offending) == 3, offending


@pytest.mark.parametrize("allowed", [
    "Focal loss with $\\gamma = 0.5$ and `focal:0.5`, and $\\gamma \\in \\{0.5, 1, 2\\}$.",
    "Class-balanced weights with beta = 0.999.",
    "Greydanus, S. (2020). arXiv:2011.14439.",
    "<!-- published: Lin et al. 2017 -->\nthey used $\\alpha = 0.25$ and got 39.1 AP, a 2.9% gain.\n<!-- /published -->",
    "Ten classes, 25 epochs, a fifth of the push, $2 p_y (1 - p_y)$.",
    "What a 95 % interval means, and a test at the 5 % level.",
])
def test_the_number_check_allows_settings_citations_and_integers(allowed):
    assert hand_typed_numbers(allowed) == []


@pytest.mark.parametrize("measured", ["reaches 97 %", "about 40 per cent", "accuracy of .93", "0.874 on test",
                                      "$91.2\\%$", "a 95 % accuracy interval"])
def test_the_number_check_flags_measurements(measured):
    assert hand_typed_numbers(measured)
