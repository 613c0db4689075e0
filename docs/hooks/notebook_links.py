"""MkDocs hook: put "Download notebook" and "Open in Colab" links at the top of notebook pages.

mkdocs-jupyter (with ``include_source: true``) copies each ``.ipynb`` next to its rendered page,
so the download link is just the file name. The Colab link opens the notebook from GitHub; it is
built from ``repo_url`` in mkdocs.yml, the one place that names the repository.
Registered under ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import html
import posixpath
from urllib.parse import urlparse

COLAB_PREFIX = "https://colab.research.google.com/github"
BRANCH = "main"  # the branch whose notebooks Colab opens


def colab_url(repo_url: str, notebook_path: str, branch: str = BRANCH) -> str:
    """Colab link for ``notebook_path`` (relative to the repo root) in a GitHub repository.

    Args:
        repo_url: e.g. "https://github.com/owner/name".
        notebook_path: e.g. "docs/notebooks/quickstart.ipynb".
        branch: Branch to open.
    """
    parsed = urlparse(repo_url)
    owner_and_name = parsed.path.strip("/").removesuffix(".git")
    if parsed.netloc != "github.com" or owner_and_name.count("/") != 1:
        raise ValueError(f"repo_url {repo_url!r} is not a GitHub repository; allowed: https://github.com/<owner>/<name>")
    return f"{COLAB_PREFIX}/{owner_and_name}/blob/{branch}/{notebook_path}"


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


def on_page_content(html_content: str, page, config, files) -> str:
    """Prepend the link bar to pages rendered from a notebook; leave other pages alone."""
    source = page.file.src_uri  # relative to docs_dir, "/"-separated
    if not source.endswith(".ipynb"):
        return html_content
    docs_dir_in_repo = posixpath.basename(config["docs_dir"].rstrip("/\\")) or "docs"
    link = colab_url(config["repo_url"], f"{docs_dir_in_repo}/{source}")
    return notebook_links_html(posixpath.basename(source), link) + html_content
