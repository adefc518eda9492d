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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from worker import private
from worker.errors import UnsafeDirectory

OUTBOX, ARCHIVE, REJECTED = "outbox", "archive", "rejected"
PART_SUFFIX = ".part"
_HASH_BLOCK = 1 << 20


class UnsafePath(Exception):
    """A name that is not a plain file name inside the inbox (a path, '..', a symlink)."""


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


def ignored(name: str) -> bool:
    """Hidden files (editors, rsync temporaries, our own temp files) and uploads still in .part."""
    return name.startswith(".") or name.endswith(PART_SUFFIX)


def scan(inbox: Path, settle_seconds: float, renamed_from_part: set[str],
         now: float | None = None) -> Iterator[Candidate]:
    """Files ready to take, in name order.

    Ready: its mtime (and so its size: every write moves the mtime) has not changed for
    `settle_seconds`, or it just lost its .part suffix (the sender said it is complete). The rule
    needs no memory between polls, so the beat task in any worker process decides alike; the
    caller re-checks size and mtime after hashing, so a file written during the hash waits.
    """
    now = time.time() if now is None else now
    with os.scandir(inbox) as entries:
        found = sorted(entries, key=lambda e: e.name)
    for entry in found:
        if ignored(entry.name):
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            continue  # outbox/, archive/, rejected/ and anything a person keeps there
        refusal = ""
        if stat.S_ISLNK(info.st_mode):
            refusal = ("is a symbolic link; the inbox only takes files placed in it (copy or move "
                       "the file itself into the inbox)")
        elif not stat.S_ISREG(info.st_mode):
            refusal = "is not a regular file (a device, pipe or socket); drop a claims file instead"
        settled = now - info.st_mtime >= settle_seconds or entry.name in renamed_from_part
        if refusal or settled:
            yield Candidate(entry.name, Path(entry.path), info.st_size, info.st_mtime_ns,
                            info.st_ino, refusal)


def parts(inbox: Path) -> set[str]:
    """Names that will appear when the .part uploads now in the inbox are renamed."""
    with os.scandir(inbox) as entries:
        return {e.name[: -len(PART_SUFFIX)] for e in entries
                if e.name.endswith(PART_SUFFIX) and not e.name.startswith(".")}


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


def write_atomically(target: Path, write: Callable[[IO[str]], None]) -> None:
    """Call `write` with a UTF-8 text stream (newline="") on a hidden temporary beside target,
    fsync, then rename: readers see all or nothing. A write that fails (or is interrupted)
    removes its temporary.

    The temporary is created with O_EXCL|O_NOFOLLOW and mode 0600 (worker.private): a symlink
    planted at its name is removed, never written through, and a leftover of a killed run is
    replaced. The rename replaces a symlink at `target` itself, not the file it points to.
    """
    temp = target.with_name(f".{target.name}.tmp")
    try:
        fd = private.create_new(temp)
    except FileExistsError:
        temp.unlink()  # unlink never follows a link: what it pointed to is left alone
        fd = private.create_new(temp)  # one that reappears at once is an attack: let it raise
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, target)
