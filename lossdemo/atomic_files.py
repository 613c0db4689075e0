"""Atomic file writes that survive ``kill -9``, and the clean-up of what a killed writer leaves.

A file is written to a hidden temp name in its final directory, fsynced, then renamed over the
target: readers see the old file or the whole new one, never a mixture. Temp names are
``.<name>.<host>-<pid>.<random>.tmp``; they never match ``*.json`` or ``*.pt``, so loaders ignore
them, and :func:`clean_stale_temp_files` removes those whose writer is gone.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"
# A write takes milliseconds; a temp file this old is a leftover even if its writer's pid was reused.
STALE_TEMP_AGE_S = 3600.0
_TEMP_OWNER = re.compile(r"\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]+\.tmp$")
# mkstemp creates files readable by their owner only; results are shared (a cluster's scratch
# directory, a published folder), so they get the permissions a plain open() would give them.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(handle)`` on a unique hidden temp file next to ``path``, fsync, then rename over ``path``.

    Readers see the old file or the whole new one, never a mixture, even if the process is killed.
    The temp name records host and pid, so :func:`clean_stale_temp_files` can tell a leftover of a
    dead process from a write in progress.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.", suffix=TEMP_SUFFIX,
                                     dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # POSIX; Windows has no such modes
                os.fchmod(handle.fileno(), FILE_MODE)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON (no NaN/inf: strict JSON) atomically; see :func:`write_atomic`."""
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"  # serialise first: a bad value writes nothing
    write_atomic(path, lambda handle: handle.write(text.encode()))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temp_files(directory: str | Path, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Remove temp files left by killed writers: their process (on this host) is gone, or they are old.

    Returns the removed paths. Temp files of live writers (another reproduce on the same directory)
    are left alone.
    """
    removed = []
    host, now = _host_tag(), time.time()
    for path in Path(directory).glob(f".*{TEMP_SUFFIX}"):
        match = _TEMP_OWNER.search(path.name)
        try:
            dead = match is not None and match["host"] == host and not _process_alive(int(match["pid"]))
            if dead or now - path.stat().st_mtime > max_age_s:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # its writer renamed it into place meanwhile
            continue
    return removed
