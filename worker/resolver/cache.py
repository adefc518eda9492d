"""A host-local copy of built text indexes: a new worker process reads what took seconds to build.

Building a release's text index from its ~170,000 terms costs a few CPU seconds; every prefork
child and every restart would pay it again. The first process to build an index writes it
to DATA_DIR/resolver-cache; later processes on the host read it instead. The file name is a
hash of everything the index is made of: every loaded release's checksum, the synonyms'
data version and the resolver's own source files. Anything else (a stale or unreadable
file, no permission, a full disk) means the index is built from the database as before.
The database stays the source of truth; this is a cache of a pure function of it.

The format is marshal (plain data: dicts, lists, strings, numbers, bytes), never pickle.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
_SOURCES = ("normalize.py", "textindex.py", "spelling.py", "hierarchy.py", "loading.py",
            "cache.py")
_source_hash: str | None = None


def source_hash() -> str:
    """Hash of the resolver modules the index depends on: a code change invalidates caches."""
    global _source_hash
    if _source_hash is None:
        digest = hashlib.sha256(str(FORMAT).encode())
        here = Path(__file__).resolve().parent
        for name in _SOURCES:
            try:
                digest.update((here / name).read_bytes())
            except OSError:
                digest.update(name.encode())
        _source_hash = digest.hexdigest()
    return _source_hash


def key(label: str, stamp_rows: Iterable[tuple[str, str, str]]) -> str:
    """The cache key of a release's index: the releases and data versions it is built from."""
    digest = hashlib.sha256(f"{source_hash()}|{label}".encode())
    for name, checksum, _ in sorted(stamp_rows):
        if name.startswith("release:") or name == "data:synonyms":
            digest.update(f"|{name}={checksum}".encode())
    return digest.hexdigest()[:24]


def path_for(directory: Path, label: str, cache_key: str) -> Path:
    safe = "".join(ch for ch in label if ch.isalnum() or ch in "-_") or "release"
    return directory / f"{safe}-{cache_key}.idx"


def read(path: Path, cache_key: str) -> dict[str, Any] | None:
    """The stored state, or None if there is none or it is not ours."""
    try:
        with path.open("rb") as fh:
            header = marshal.load(fh)
            if not isinstance(header, dict) or header.get("format") != FORMAT \
                    or header.get("key") != cache_key:
                return None
            return {name: marshal.load(fh) for name in header["fields"]}
    except FileNotFoundError:
        return None
    except Exception as exc:  # unreadable, truncated, another Python's marshal version
        log.warning("resolver.cache_unreadable", extra={"path": str(path),
                                                         "error": type(exc).__name__})
        return None


def write(path: Path, cache_key: str, state: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename); remove older files of the release.

    One marshal record per field, so only one field's bytes exist at a time while writing.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                marshal.dump({"format": FORMAT, "key": cache_key, "fields": list(state)}, fh)
                for value in state.values():
                    marshal.dump(value, fh)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        prefix = path.name.rsplit("-", 1)[0] + "-"
        for old in path.parent.glob(f"{prefix}*.idx"):
            if old != path:
                old.unlink(missing_ok=True)
    except Exception as exc:  # a cache that cannot be written is only slower
        log.warning("resolver.cache_not_written", extra={"path": str(path),
                                                          "error": type(exc).__name__})
