"""Two facts about a path on disk, torch-free and shared by the runtime's readers (data,
checkpoints, tokenizers) and nlc's writers: what a file that is not a regular one is, in
words (a reader or writer refuses it by that name), and a file's SHA-256."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path


def file_kind(mode: int) -> str | None:
    """What a file of this st_mode is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
