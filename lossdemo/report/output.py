"""Writing the site's generated files: figures, text files and the manifest of what they were drawn from.

``manifest.json`` records, per generated file, a fingerprint of the runs it was drawn from, so a
test can tell when a figure is older than its results (``tests/test_generated.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic_files import write_json_atomic
from ..results import StoredRun
from .style import plt

MANIFEST_NAME = "manifest.json"
ANALYTIC = "analytic"  # the fingerprint of a figure drawn from formulas, not from runs


def runs_fingerprint(runs: list[StoredRun]) -> str:
    """sha256 over the runs' ids, histories and statuses (their :attr:`StoredRun.digest`): changes
    whenever the data behind a file changes."""
    digest = hashlib.sha256()
    for run in sorted(runs, key=lambda r: r.config.run_id):
        digest.update(run.digest)
    return digest.hexdigest()


def save_figure(figure, path: Path) -> Path:
    """Save and close ``figure``. Without the "Software" tag (the Matplotlib version) the PNG bytes
    are a pure function of the data, so redrawing unchanged results changes nothing in git."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return path


def update_manifest(out_dir: Path, written: dict[str, str]) -> None:
    """Merge ``{file: fingerprint}`` into the manifest (other experiments' entries are kept, as long as
    their files still exist: a file an experiment no longer draws leaves the manifest with the file)."""
    path = out_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest.update(written)
    manifest = {name: fingerprint for name, fingerprint in manifest.items() if (out_dir / name).exists()}
    write_json_atomic(path, dict(sorted(manifest.items())))
