"""MkDocs hook: link bar, repository name and page links on notebook pages.

mkdocs-jupyter (with ``include_source: true``) copies each ``.ipynb`` next to its rendered page,
so the download link is just the file name. The Colab link opens the notebook from GitHub; it is
built from ``repo_url`` in mkdocs.yml, the one place that names the repository.

The notebooks themselves do not name the repository, so that renaming it is one edit in
mkdocs.yml. They write ``<owner>/<name>`` (for instance in their ``pip install git+...`` line),
which reads as a template in Colab and is filled in from ``repo_url`` on the site. They link
other pages of the site as relative ``.md`` files (``../experiment.md``), which GitHub's notebook
view follows as they are and which this hook turns into the pages' URLs, checked like any
Markdown link: a missing page is a warning, so it fails the strict build.
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
BRANCH = "main"  # the branch whose notebooks Colab opens
REPOSITORY_TOKEN = "<owner>/<name>"  # what notebooks write where the repository's name goes
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


def notebook_links_html(notebook_name: str, colab_link: str) -> str:
    """The link bar: a download of the copied notebook and a Colab link that opens in a new tab."""
    name = html.escape(notebook_name, quote=True)
    colab = html.escape(colab_link, quote=True)
    return (
        '<p class="lossdemo-notebook-links">'
        f'<a class="md-button" href="{name}" download>Download notebook</a> '
        f'<a class="md-button" href="{colab}" target="_blank" rel="noopener">Open in Colab</a>'
        "</p>\n"
    )


def fill_repository(html_content: str, repo_url: str) -> str:
    """Replace the ``<owner>/<name>`` token, as rendered HTML escapes it, with the repository."""
    return html_content.replace(html.escape(REPOSITORY_TOKEN), github_repository(repo_url))


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
    """On pages rendered from a notebook: fill in the repository, link the site's pages, and
    prepend the link bar. Other pages are left alone."""
    source = page.file.src_uri  # relative to docs_dir, "/"-separated
    if not source.endswith(".ipynb"):
        return html_content
    html_content = link_pages(fill_repository(html_content, config["repo_url"]), page, files)
    docs_dir_in_repo = posixpath.basename(config["docs_dir"].rstrip("/\\")) or "docs"
    link = colab_url(config["repo_url"], f"{docs_dir_in_repo}/{source}")
    return notebook_links_html(posixpath.basename(source), link) + html_content
