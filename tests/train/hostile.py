"""Helpers for the hostile-input tests: a deadline (a command that would hang fails instead),
the one-line-error check, and special files to write over."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise TimeoutError inside the block after `seconds` (main thread; nlc's main turns it
    into exit 3, so a command that would run unbounded fails its test instead of hanging)."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exit_code(argv: list[str]) -> int:
    """`nlc ARGV` in this process: main's return value, or the code argparse exits with (a
    flag's own type may refuse a value before the command runs: the same one line, exit 2)."""
    from nlc.cli import main

    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def one_line(capsys, prefix: str, *words: str) -> str:
    """stderr is one line starting with `prefix` (and holding `words`), no traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(prefix), err
    assert "Traceback" not in err and "internal error" not in err, err
    for word in words:
        assert word in err, err
    return err


KINDS = ["fifo", "socket", "device", "folder", "parent-is-a-file"]


def make_special(path, kind: str):
    """Put a `kind` at `path` (parents made); returns (the path to name as the target, what
    to close afterwards). A FIFO gets a reader, so that a writer opening it never blocks."""
    import pytest

    path.parent.mkdir(parents=True, exist_ok=True)
    keep = []
    if kind == "fifo":
        os.mkfifo(path)
        keep.append(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        here = os.getcwd()
        os.chdir(path.parent)  # a socket's path is short (108 bytes): bind it by its name
        try:
            sock.bind(path.name)
        finally:
            os.chdir(here)
        keep.append(sock)
    elif kind == "device":  # /dev/full's numbers, in the test's own folder
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "folder":
        path.mkdir()
        (path / "keep.txt").write_text("kept")
    else:
        path.write_text("a file")
        return path / "x", keep
    return path, keep


def snapshot(path) -> tuple:
    """What must not change: the file type (lstat) and, for a regular file, its bytes."""
    st = os.lstat(path)
    data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
    return stat.S_IFMT(st.st_mode), data


def close_all(keep) -> None:
    for item in keep:
        if isinstance(item, int):
            os.close(item)
        else:
            item.close()
