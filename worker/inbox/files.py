"""The inbox's file side: which files are ready, their content hash, and moves that never overwrite.

Layout of a watched directory DIR: files are dropped in DIR itself; results go to DIR/outbox,
processed sources to DIR/archive, refused ones to DIR/rejected (with NAME.error.txt beside them).
Nothing here touches the database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import time
from pathlib import Path

from worker.errors import UnsafeDirectory, UnsafePath

OUTBOX, ARCHIVE, REJECTED = "outbox", "archive", "rejected"
# Drop-off conventions for "still being written": a temporary suffix (curl/wget/browsers .part,
# WinSCP .filepart, many tools .tmp) or a prefix (rsync and editors "." , Office "~") until the
# sender renames the file to its final name.
TEMP_SUFFIXES = (".part", ".partial", ".filepart", ".tmp", ".temp", ".crdownload")
TEMP_PREFIXES = (".", "~")
PART_SUFFIX = ".part"
# Sidecar markers a sender writes after the file (NAME.done / NAME.ok), when the inbox asks for
# them (DXCODER_INBOX_REQUIRE_MARKER).
MARKER_SUFFIXES = (".done", ".ok")
_HASH_BLOCK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A file in the inbox: ready to be taken, or refused for what it is (symlink, device...)."""

    name: str
    path: Path
    size: int
    mtime_ns: int
    inode: int
    refusal: str = ""  # non-empty: move it to rejected/ with this reason, never read it


def layout(inbox: Path) -> None:
    """Create outbox/, archive/ and rejected/ (idempotent); UnsafeDirectory if one is a symlink."""
    for sub in (OUTBOX, ARCHIVE, REJECTED):
        try:
            (inbox / sub).mkdir()
        except FileExistsError:
            subdir(inbox, sub)


def subdir(inbox: Path, sub: str) -> Path:
    """inbox/sub, checked to be a real directory: claims data written or moved there must not
    follow a symbolic link out of the inbox."""
    path = inbox / sub
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise UnsafeDirectory(f"{path} is missing; dxcoder recreates it on the next poll") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeDirectory(
            f"{path} is a symbolic link; dxcoder writes claims data there, so it must be a real "
            f"directory inside the inbox: remove the link (and move what it holds into {sub}/) "
            "or point the inbox itself at the other disk")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory; move it away so dxcoder can create "
                              f"{sub}/ there")
    return path


def safe_name(name: str) -> str:
    """The name itself when it is a plain file name; UnsafePath for anything that could lead out."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePath(f"{name!r} is not a plain file name inside the inbox")
    return name


def inside(inbox: Path, name: str) -> Path:
    """inbox/name, refusing names and symlinks that would lead out of the inbox."""
    path = inbox / safe_name(name)
    if path.is_symlink():
        raise UnsafePath(f"{name} is a symbolic link")
    if os.path.realpath(path.parent) != os.path.realpath(inbox):
        raise UnsafePath(f"{name} is not inside {inbox}")
    return path


def ignored(name: str, require_marker: bool = False) -> bool:
    """Names never taken as claims files: temporary names of uploads still being written (and our
    own hidden temporaries), and the markers when the inbox uses them."""
    lower = name.lower()
    if name.startswith(TEMP_PREFIXES) or lower.endswith(TEMP_SUFFIXES):
        return True
    return require_marker and lower.endswith(MARKER_SUFFIXES)


def final_name(name: str) -> str:
    """The name a temporary upload will have once renamed (upload.csv.part -> upload.csv,
    ~claims.csv -> claims.csv); the name itself for a final name."""
    while True:
        lower = name.lower()
        suffix = next((s for s in TEMP_SUFFIXES if lower.endswith(s)), "")
        if suffix and len(name) > len(suffix):
            name = name[: -len(suffix)]
        elif name.startswith(TEMP_PREFIXES) and len(name) > 1:
            name = name[1:]
        else:
            return name


def markers(inbox: Path, name: str) -> list[Path]:
    """The sidecar markers of `name` present in the inbox (NAME.done, NAME.ok), never symlinks
    followed (a link is moved like any marker: rename does not follow it)."""
    return [inbox / (name + s) for s in MARKER_SUFFIXES
            if (inbox / (name + s)).is_file() or (inbox / (name + s)).is_symlink()]


@dataclasses.dataclass
class Scan:
    """One look at the inbox: files ready to take, and the others with why they wait."""

    ready: list[Candidate] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (name, why)


def scan(inbox: Path, settle_seconds: float, renamed_from_part: set[str],
         now: float | None = None, require_marker: bool = False) -> Scan:
    """Files ready to take, in name order, and the files left waiting (with the reason).

    Ready: its mtime (and so its size: every write moves the mtime) has not changed for
    `settle_seconds`, or it just lost its temporary name (the sender said it is complete), or
    with `require_marker` its NAME.done / NAME.ok marker exists (and then only so). The rule
    needs no memory between polls, so the beat task in any worker process decides alike; the
    caller re-checks size and mtime after hashing, so a file written during the hash waits, and
    again before archiving, so a file written to after it was read is read again, not archived.
    """
    now = time.time() if now is None else now
    result = Scan()
    with os.scandir(inbox) as entries:
        found = sorted(entries, key=lambda e: e.name)
    names = {e.name for e in found}
    for entry in found:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            continue  # outbox/, archive/, rejected/ and anything a person keeps there
        if ignored(entry.name, require_marker):
            if entry.name.lower().endswith(MARKER_SUFFIXES):
                if entry.name.rsplit(".", 1)[0] not in names:
                    result.skipped.append((entry.name, "a marker whose file is not (yet) here"))
            elif final_name(entry.name) != entry.name:
                result.skipped.append((entry.name, "a temporary name (an upload in progress); "
                                       f"taken once renamed to {final_name(entry.name)}"))
            continue
        refusal = ""
        if stat.S_ISLNK(info.st_mode):
            refusal = ("is a symbolic link; the inbox only takes files placed in it (copy or move "
                       "the file itself into the inbox)")
        elif not stat.S_ISREG(info.st_mode):
            refusal = "is not a regular file (a device, pipe or socket); drop a claims file instead"
        if require_marker:
            settled = any(entry.name + s in names for s in MARKER_SUFFIXES)
            why = (f"waits for its marker {entry.name}.done or {entry.name}.ok "
                   "(DXCODER_INBOX_REQUIRE_MARKER)")
        else:
            age = now - info.st_mtime
            settled = age >= settle_seconds or entry.name in renamed_from_part
            why = (f"changed {max(age, 0):.0f} s ago; taken once unchanged for "
                   f"{settle_seconds:g} s (DXCODER_INBOX_SETTLE_SECONDS)")
        if refusal or settled:
            result.ready.append(Candidate(entry.name, Path(entry.path), info.st_size,
                                          info.st_mtime_ns, info.st_ino, refusal))
        else:
            result.skipped.append((entry.name, why))
    return result


def parts(inbox: Path) -> set[str]:
    """Names that will appear when the temporary uploads now in the inbox are renamed."""
    with os.scandir(inbox) as entries:
        return {final_name(e.name) for e in entries if final_name(e.name) != e.name}


def content_hash(path: Path) -> tuple[str, os.stat_result]:
    """sha256 of the file read through a descriptor opened without following symlinks, and the
    descriptor's stat after reading (the caller compares it with the scan's)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        digest = hashlib.sha256()
        for block in iter(lambda: fh.read(_HASH_BLOCK), b""):
            digest.update(block)
        return digest.hexdigest(), os.fstat(fh.fileno())


def free_name(directory: Path, name: str, tag: str) -> Path:
    """directory/name, or name.tag, name.tag-2 ... when taken: a move never overwrites a file."""
    candidate = directory / name
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = directory / (f"{name}.{tag}" if n == 1 else f"{name}.{tag}-{n}")
        n += 1
    return candidate


def move(source: Path, directory: Path, tag: str) -> Path:
    """Rename source into directory under a free name (same file system: atomic)."""
    target = free_name(directory, source.name, tag)
    os.rename(source, target)
    return target
