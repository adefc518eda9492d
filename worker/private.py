"""Files holding claims data are created 0600, or 0640 with DXCODER_GROUP_READABLE.

The database, results and outbox files, refusal notes, the log file and Flower's state all get
their mode here rather than from the process's umask (commonly 022: readable by every user).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from worker.settings import Settings, get_settings


def file_mode(settings: Settings | None = None) -> int:
    """0600, or 0640 when DXCODER_GROUP_READABLE is on."""
    return 0o640 if (settings or get_settings()).group_readable else 0o600


def umask(settings: Settings | None = None) -> int:
    """The umask that yields file_mode() for files a library creates itself (Flower's state)."""
    return 0o027 if (settings or get_settings()).group_readable else 0o077


def create_new(path: Path, settings: Settings | None = None) -> int:
    """A write descriptor on a file that did not exist, never through a symlink (O_EXCL and
    O_NOFOLLOW: a link planted at `path` makes this fail instead of writing where it points)."""
    return _create(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), settings)


def open_append(path: str | Path, settings: Settings | None = None) -> int:
    """An append descriptor, creating the file private if missing (an existing file keeps its
    mode: an operator may have chosen it)."""
    try:
        return _create(path, os.O_WRONLY | os.O_APPEND, settings)
    except FileExistsError:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)


def ensure_file(path: str | Path, settings: Settings | None = None) -> None:
    """Create `path` empty and private unless it exists (SQLite then opens the file we made)."""
    with contextlib.suppress(FileExistsError):
        os.close(_create(path, os.O_WRONLY, settings))


def _create(path: str | Path, flags: int, settings: Settings | None) -> int:
    mode = file_mode(settings)
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # exactly this mode: a umask (systemd's 0077) must not undo 0640
    except BaseException:
        os.close(fd)
        raise
    return fd
