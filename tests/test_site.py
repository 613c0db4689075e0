"""The documentation site, tested as a reader meets it.

- the strict MkDocs build passes (broken links, missing includes, bad docstrings fail it);
- in headless Chromium, served from 127.0.0.1 with no network: every nav page loads without
  console errors, every image loads, math is typeset (also in notebook pages), and the nav
  reaches exactly the pages listed in mkdocs.yml; a reader whose system is dark gets the dark
  scheme with the figures on white cards;
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
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
            context.route("**/*", keep_local)

            # Home page: screenshot, and the nav links it offers.
            home, problems = _open(context, base_url)
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


EXPLORER_PAGE = "losses/focal.md"


def _check_focal_explorer(page) -> None:
    """The γ slider redraws the curves and its push values match the package's autograd values."""
    from lossdemo.report.loss_shapes import push_on_true_logit

    page.wait_for_selector(".lossdemo-explorer canvas")
    before = page.evaluate("() => document.querySelector('.lossdemo-explorer canvas').toDataURL()")
    page.locator(".lossdemo-explorer input[type=range]").fill("0.5")
    assert page.locator(".lossdemo-explorer output").inner_text() == "0.5"
    after = page.evaluate("() => document.querySelector('.lossdemo-explorer canvas').toDataURL()")
    assert after != before, "moving the γ slider should redraw the curves"
    assert "push" in page.locator(".lossdemo-explorer [data-push-table]").inner_text()
    for gamma in (0.0, 0.5, 2.0, 5.0):
        for probability in (0.05, 0.1, 0.5, 0.9):
            shown = page.evaluate(f"() => window.lossdemoFocal.push({probability}, {gamma})")
            expected = push_on_true_logit("ce" if gamma == 0 else f"focal:{gamma:g}", probability)
            assert abs(shown - expected) < 1e-5, (gamma, probability, shown, expected)


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
# A decimal right after one of these is a setting or an identifier, not a measurement:
# "focal:0.5", "$\gamma = 0.5$", "γ ∈ {0.5, 1, 2}", "beta = 0.999", "arXiv:2011.14439", "ls:0.1",
# "lr 0.05", "learning rate (0.05)", "momentum 0.9".
SETTING_BEFORE = re.compile(r"(?:γ|\\gamma|gamma|β|\\beta|beta|α|\\alpha|alpha|ε|\\varepsilon|epsilon|τ|\\tau|"
                            r"focal:|ls:|gce:|la-ce:|arXiv:|\blr\b|learning rate|shared rate|momentum)[^.\n]{0,16}$", re.I)


def hand_typed_numbers(markdown: str) -> list[str]:
    """Percentages and decimals in a page's source that look like measurements.

    Measured numbers must come from generated files (``--8<-- "generated/..."``); a hand-typed
    one goes stale the moment results are regenerated. Returns the offending snippets.
    """
    text = PUBLISHED_REGION.sub(" ", markdown)
    text = CODE_SPAN.sub(" ", text)  # `focal:0.5`, ``1.0``: identifiers and literals, not measurements
    text = HTML_TAG.sub(" ", text)  # <input step="0.25">: markup attributes, not measurements
    found = [match.group(0) for match in PERCENTAGE.finditer(text)]
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
])
def test_the_number_check_allows_settings_citations_and_integers(allowed):
    assert hand_typed_numbers(allowed) == []


@pytest.mark.parametrize("measured", ["reaches 97 %", "about 40 per cent", "accuracy of .93", "0.874 on test",
                                      "$91.2\\%$"])
def test_the_number_check_flags_measurements(measured):
    assert hand_typed_numbers(measured)
