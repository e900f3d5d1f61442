"""Writing and reading the files nlc's commands produce beside the user's data: one safe writer
for task files (`nlc data make`), exports, plots (`compare --png`, `eval`) and the results
`nlc eval` keeps in RUN/eval.

- Only regular files are written. A target that exists must be a regular file: a folder, a
  device, a FIFO or a socket is refused before anything is opened (opening a FIFO blocks,
  renaming over a device node replaces it). A parent that exists must be a folder; missing
  ones are made.
- Each file is written to a temporary file in the target's own folder, then renamed onto the
  target (`os.replace`): a reader never sees half a file, and a failure leaves the old one.
- A symbolic link as the target is followed (the file it names is replaced, the link stays);
  with `inside`, the file reached must lie inside that folder, so a run folder's own files
  are never written through a link out of it.
- With `replaces`, an existing non-empty target is replaced only when it starts with those
  bytes (a PNG's signature, a JSONL record's brace): a writer overwrites files of its own kind,
  never a checkpoint or a text a mistyped path happens to name.

Every refusal and every failure is a `WriteError`: a `SpecError` whose one line names the path
(the CLI prints it and exits 2), never a traceback.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from nlc_runtime.training.files import file_kind

from nlc.errors import Diagnostic, SpecError


class WriteError(SpecError):
    """A file that cannot or must not be written (or read back): one line naming it."""

    def __init__(self, path, message: str):
        super().__init__(Diagnostic(str(path) or "''", None, "", message))


def _stat(path: Path, shown=None) -> os.stat_result | None:
    """os.stat, None for a missing file; other errors (a name too long, a permission denied)
    are a WriteError naming `shown` (the path as the user gave it), else `path`."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # a parent is a file: reported by the parents' check
        return None
    except OSError as err:
        raise WriteError(shown or path, f"cannot inspect: {err.strerror or err}") from None


def is_inside(path: Path, folder: Path) -> bool:
    """`path` is `folder` or lies under it, symbolic links resolved."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def check_parents(path: Path) -> None:
    """Every existing folder above `path` is a folder (`-o AFILE/x` names no place)."""
    for parent in Path(path).parents:
        st = _stat(parent)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            what = file_kind(st.st_mode) or "a file"
            raise WriteError(parent, f"is {what}, not a folder (in {path})")
        return  # the nearest existing one is a folder: so are those above it


def check_target(
    path: str | Path, inside: Path | None = None, replaces: bytes | None = None
) -> Path:
    """Why `path` cannot be written as a regular file (a WriteError), else the file the write
    will replace or create (symbolic links resolved). Nothing is opened but an existing
    regular target's first bytes (`replaces`)."""
    given = Path(path)
    if not str(path).strip():
        raise WriteError(path, "give a file name")
    if given.name in ("", ".", "..") or str(path).endswith(os.sep):
        raise WriteError(path, "names a folder; give a file name")
    check_parents(given)
    real = given.resolve()
    if inside is not None and not real.is_relative_to(Path(inside).resolve()):
        raise WriteError(
            path, f"leads out of {inside} (a symbolic link?); nlc writes there only inside it"
        )
    st = _stat(real, path)
    if st is None:
        return real
    kind = file_kind(st.st_mode)
    if kind == "a folder":
        raise WriteError(path, "is a folder; give a file name")
    if kind is not None:
        raise WriteError(path, f"is {kind}, not a regular file: not written")
    if replaces is not None and st.st_size > 0:
        try:
            with open(real, "rb") as f:
                head = f.read(len(replaces))
        except OSError as err:
            raise WriteError(path, f"cannot read: {err.strerror or err}") from None
        if head != replaces:
            raise WriteError(path, "exists and is not a file of the kind written here: kept")
    return real


def _new_file_mode(real: Path) -> int:
    st = _stat(real)
    if st is not None:
        return stat.S_IMODE(st.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_file(
    path: str | Path,
    data: bytes | str | Callable[[str], object],
    inside: Path | None = None,
    replaces: bytes | None = None,
) -> Path:
    """Write `data` (bytes, text as UTF-8, or `data(tmp)` writing the file named tmp) to
    `path` through a temporary file in the same folder and `os.replace`. Returns `path` as
    given (the file written, or the link to it)."""
    real = check_target(path, inside, replaces)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(path, f"cannot make its folder: {err.strerror or err}") from None
    mode = _new_file_mode(real)
    try:
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as err:
        raise WriteError(path, f"cannot write: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif isinstance(data, bytes):
                f.write(data)
        if callable(data):
            data(tmp)
        os.chmod(tmp, mode)
        check_target(path, inside, replaces)  # still what it was checked to be
        os.replace(tmp, real)
    except OSError as err:
        raise WriteError(path, f"cannot write: {err.strerror or err}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return Path(path)


PNG = b"\x89PNG"  # a PNG's first bytes: the only files a plot replaces


def save_figure(fig, out: Path, error: type[Exception]) -> Path:
    """Write a matplotlib figure as PNG to exactly `out` (folders made; no extension added)
    through `write_file` and close it: a regular file only, replacing an earlier PNG but no
    other file. An unwritable or refused path is one `error` naming it. (matplotlib is
    imported here, not by this module: a command that draws nothing never loads it.)"""
    import matplotlib.pyplot as plt

    try:
        write_file(out, lambda tmp: fig.savefig(tmp, format="png"), replaces=PNG)
    except WriteError as err:
        if issubclass(error, WriteError):
            raise
        raise error(str(err)) from None
    finally:
        plt.close(fig)
    return out


def read_regular(path: Path, error: type[Exception] = WriteError) -> bytes:
    """The bytes of a regular file; a folder, FIFO, device or socket (reading one may block or
    never end) or an unreadable file raises `error` naming it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _error(error, path, "no such file") from None
    except OSError as err:
        raise _error(error, path, f"cannot read: {err.strerror or err}") from None
    kind = file_kind(st.st_mode)
    if kind is not None:
        raise _error(error, path, f"is {kind}, not a regular file")
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise _error(error, path, f"cannot read: {err.strerror or err}") from None


def _error(error: type[Exception], path, message: str) -> Exception:
    return error(path, message) if error is WriteError else error(f"{path}: {message}")


def describe(err: OSError) -> str:
    """One line for an operating-system error on a path the user named (a name too long, a
    permission denied ...): what the commands print when one escapes their own checks."""
    where = err.filename if err.filename is not None else "nlc"
    return f"{where}: {err.strerror or err}"
