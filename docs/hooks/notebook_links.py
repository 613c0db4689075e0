"""MkDocs hook: link bar, repository name and page links on notebook pages.

mkdocs-jupyter (with ``include_source: true``) copies each ``.ipynb`` next to its rendered page,
so the download link is just the file name. The Colab and Binder links open the notebook from
GitHub; they are built from ``repo_url`` in mkdocs.yml, the one place that names the repository.

The notebooks' first code cell installs the package from that repository when it is missing (on
Colab, Binder or a downloaded copy), so it names the address itself: Colab opens the repository's
own file, which must hold the real one. ``tests/test_notebooks_meta.py`` keeps it equal to
``repo_url``. The notebooks link other pages of the site as relative ``.md`` files
(``../experiment.md``), which GitHub's notebook view follows as they are and which this hook turns
into the pages' URLs, checked like any Markdown link: a missing page is a warning, so it fails the
strict build.
Registered under ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import html
import logging
import posixpath
import re
from urllib.parse import urlparse

from mkdocs.utils import get_relative_url

COLAB_PREFIX = "https://colab.research.google.com/github"
BINDER_PREFIX = "https://mybinder.org/v2/gh"
BRANCH = "main"  # the branch whose notebooks Colab and Binder open
# A relative link to a Markdown page, as nbconvert renders it: href="../experiment.md#anchor".
PAGE_LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|/|#)([^"#?]+\.md)(#[^"]*)?"')

log = logging.getLogger(f"mkdocs.hooks.{__name__}")


def github_repository(repo_url: str) -> str:
    """``"owner/name"`` of a GitHub repository URL such as "https://github.com/owner/name"."""
    parsed = urlparse(repo_url)
    owner_and_name = parsed.path.strip("/").removesuffix(".git")
    if parsed.netloc != "github.com" or owner_and_name.count("/") != 1:
        raise ValueError(f"repo_url {repo_url!r} is invalid; allowed: https://github.com/<owner>/<name>")
    return owner_and_name


def colab_url(repo_url: str, notebook_path: str, branch: str = BRANCH) -> str:
    """Colab link for ``notebook_path`` (relative to the repo root) in a GitHub repository.

    Args:
        repo_url: e.g. "https://github.com/owner/name".
        notebook_path: e.g. "docs/notebooks/quickstart.ipynb".
        branch: Branch to open.
    """
    return f"{COLAB_PREFIX}/{github_repository(repo_url)}/blob/{branch}/{notebook_path}"


def binder_url(repo_url: str, notebook_path: str, branch: str = BRANCH) -> str:
    """Binder link that opens ``notebook_path`` in JupyterLab, in the environment ``binder/`` describes."""
    return f"{BINDER_PREFIX}/{github_repository(repo_url)}/{branch}?labpath={notebook_path}"


def notebook_links_html(notebook_name: str, colab_link: str, binder_link: str) -> str:
    """The link bar: a download of the copied notebook, and Colab and Binder links that open in a new tab."""
    name = html.escape(notebook_name, quote=True)
    colab, binder = html.escape(colab_link, quote=True), html.escape(binder_link, quote=True)
    return (
        '<p class="lossdemo-notebook-links">'
        f'<a class="md-button" href="{name}" download>Download notebook</a> '
        f'<a class="md-button" href="{colab}" target="_blank" rel="noopener">Open in Colab</a> '
        f'<a class="md-button" href="{binder}" target="_blank" rel="noopener">Open in Binder</a>'
        "</p>\n"
    )


def link_pages(html_content: str, page, files) -> str:
    """Turn relative links to ``.md`` sources into links to their pages; warn about missing ones."""
    here = posixpath.dirname(page.file.src_uri)

    def replace(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        file = files.get_file_from_path(posixpath.normpath(posixpath.join(here, html.unescape(target))))
        if file is None:
            log.warning("Doc file '%s' contains a link to '%s', which is not found in the documentation files.",
                        page.file.src_uri, target)
            return match.group(0)
        return f'href="{html.escape(get_relative_url(file.url, page.url), quote=True)}{anchor}"'

    return PAGE_LINK.sub(replace, html_content)


def on_page_content(html_content: str, page, config, files) -> str:
    """On pages rendered from a notebook: link the site's pages, and prepend the link bar. Other
    pages are left alone."""
    source = page.file.src_uri  # relative to docs_dir, "/"-separated
    if not source.endswith(".ipynb"):
        return html_content
    html_content = link_pages(html_content, page, files)
    docs_dir_in_repo = posixpath.basename(config["docs_dir"].rstrip("/\\")) or "docs"
    path_in_repo = f"{docs_dir_in_repo}/{source}"
    return notebook_links_html(posixpath.basename(source), colab_url(config["repo_url"], path_in_repo),
                               binder_url(config["repo_url"], path_in_repo)) + html_content
