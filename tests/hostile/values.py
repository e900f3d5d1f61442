"""Hostile values for command-line options, and hostile files to hand a command.

Each pool mixes ordinary values (so that a case gets past the first check and reaches the
deeper ones) with the values users and scripts produce by mistake: huge, negative, non-finite,
overlong, undecodable. `place(kind, folder)` makes a hostile file of a kind in a case's folder
and returns the path to pass. Nothing here names a real device as an output: a writer that
renames over a special file would replace it, so the special files are made in the folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hypothesis import strategies as st

NUMBERS = [
    "0", "1", "2", "3", "8", "-1", "-7", "0.5", "1e-45", "1e308", "1e400", "-1e400", "nan",
    "inf", "-inf", "1000000000", "9" * 31, "1_000", "0x10", "", " ", "x", "\u0663",
    "\udcff",
]  # fmt: skip

TEXT = [
    "", "a", "ROMEO:", "\udcff", "\u00ff", "\U0001f642", "\n", "\t\t", "-", "--x", "x" * 100_000,
    "\u202e", "$(touch pwned)", "../../x", "%s%n", "{}",
]  # fmt: skip

LISTS = ["1", "1,2", "0", "-1", "1,,2", ",", "1e400", "nan", ",".join(["9"] * 50), "x,y", ""]

FILE_KINDS = [
    "missing", "empty", "garbage", "invalid-utf8", "folder", "fifo", "device", "dev-zero",
    "link-out", "parent-is-file", "long-name",
]  # fmt: skip


def numbers() -> st.SearchStrategy[str]:
    return st.sampled_from(NUMBERS)


def texts() -> st.SearchStrategy[str]:
    return st.sampled_from(TEXT)


def lists() -> st.SearchStrategy[str]:
    return st.sampled_from(LISTS)


def file_kinds() -> st.SearchStrategy[str]:
    return st.sampled_from(FILE_KINDS)


def place(kind: str, folder: Path, name: str = "input.txt") -> str:
    """A hostile file of `kind` in `folder` (made now), as the argument to pass. Paths that
    are not made inside `folder` (dev-zero) are only ever read."""
    path = folder / name
    if kind == "missing":
        return str(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "invalid-utf8":
        path.write_bytes(b"ok \xff\xfe\x80 text\n" * 8)
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":  # a character device like /dev/null, made inside the folder
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:  # not root: a FIFO is special enough
            os.mkfifo(path)
    elif kind == "dev-zero":
        return "/dev/zero"
    elif kind == "link-out":  # a link out of the case's folder
        outside = folder.parent / f"outside-{folder.name}"
        outside.write_text("outside the folder\n")
        path.symlink_to(outside)
    elif kind == "parent-is-file":
        path.write_text("a file\n")
        return str(path / "child")
    elif kind == "long-name":
        return str(folder / ("n" * 300))
    return str(path)
