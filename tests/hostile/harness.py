"""Run one hostile command line through `nlc.cli.main` in this process, bounded, and judge it.

A case passes when the command
- exits 0, or exits 2 with one line on stderr per problem (the project's rule for bad input;
  a case holds one to three bad values), none indented (no traceback);
- finishes within `SECONDS` (a timer interrupts it: a hang or unbounded work fails the case);
- allocates less than `MEMORY` more address space than the process had (a larger allocation
  fails with MemoryError inside the command, which then exits 3: a failed case);
- writes nothing but the outputs the command line names (every file under the case's folder
  is snapshotted before and after: sizes and contents), and
- leaves every folder it only reads (the run folder) byte for byte as it was.

Counts per command (tried, accepted, refused, failed) are kept in `COUNTS`; the hostile suite's
conftest prints them at the end of the session (`make fuzz` shows them).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import resource
import shutil
import signal
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

from nlc.cli import main

SECONDS = 30.0  # wall clock per case, on a shared 2-core machine
MEMORY = 3 << 30  # address space a case may add (bytes)
MAX_PROBLEMS = 8  # lines of one refusal: one per problem found

COUNTS: dict[str, Counter] = defaultdict(Counter)

# examples per command: `make test` tries a few, `make fuzz` ten times as many
EXAMPLES = int(os.environ.get("NLC_FUZZ_HOSTILE", "12"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the pools are small already
)


@contextlib.contextmanager
def case_folder(run: Path | None = None):
    """A fresh folder for one case (hypothesis runs many examples in one test call, so the
    test's tmp_path would be shared): yields (folder, its copy of `run` or None)."""
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        copy = None
        if run is not None:
            copy = folder / "run"
            shutil.copytree(run, copy, symlinks=True)
        yield folder, copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for outside in folder.parent.glob(f"outside-{folder.name}*"):  # what links point to
            shutil.rmtree(outside) if outside.is_dir() else outside.unlink()


class CaseTimeout(BaseException):
    """Raised by the timer inside the command: a BaseException, so the CLI's own `except
    Exception` (internal errors, exit 3) cannot turn a hang into an ordinary exit."""


@dataclass
class Result:
    code: int | str  # the exit status, or "timeout" / "memory"
    out: str
    err: str
    seconds: float


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (not following links) with what it is and holds."""
    seen = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                seen[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                seen[rel] = "dir"
            elif path.is_file():
                seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[rel] = "special"
    return seen


def _snapshot_any(path: Path) -> dict[str, str]:
    if path.is_dir() and not path.is_symlink():
        return snapshot(path)
    return {"": hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "gone"}


def _on_timer(signum, frame):
    raise CaseTimeout


def run_bounded(argv: list[str], cwd: Path) -> Result:
    """`nlc ARGV` in `cwd`, under the time and memory bounds."""
    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    old_handler = signal.signal(signal.SIGALRM, _on_timer)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = _address_space()
    limit = used + MEMORY if used else resource.RLIM_INFINITY
    start = time.monotonic()
    code: int | str
    try:
        os.chdir(cwd)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        signal.setitimer(signal.ITIMER_REAL, SECONDS)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except CaseTimeout:
        code = "timeout"
    except MemoryError:
        code = "memory"
    except SystemExit as exit_:  # argparse refuses a flag this way
        code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old_handler)
        os.chdir(old_cwd)
    return Result(code, out.getvalue(), err.getvalue(), time.monotonic() - start)


def _address_space() -> int:
    """This process's virtual size in bytes (0 where /proc is missing: no memory bound)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[0]) * os.sysconf("SC_PAGE_SIZE")


def judge(
    command: str,
    argv: list[str],
    cwd: Path,
    outputs: tuple[str, ...] = (),
    read_only: tuple[Path, ...] = (),
) -> Result:
    """Run the case and assert the rules of the module docstring. `outputs`: paths relative to
    `cwd` (files or folders) the command may create or change; everything else under `cwd`
    and under each `read_only` folder must be as it was."""
    before = snapshot(cwd)
    # what links of the case point to (beside its folder) is read only too
    read_only = (*read_only, *sorted(cwd.parent.glob(f"outside-{cwd.name}*")))
    frozen = {folder: _snapshot_any(folder) for folder in read_only}
    result = run_bounded(argv, cwd)
    COUNTS[command]["tried"] += 1
    try:
        _check(argv, result, before, snapshot(cwd), outputs)
        for folder, seen in frozen.items():
            changed = _changes(seen, _snapshot_any(folder))
            assert not changed, f"changed the folder it reads, {folder}: {changed}"
    except AssertionError as failure:
        COUNTS[command]["failed"] += 1
        raise AssertionError(f"nlc {_shown(argv)}\n{failure}") from None
    COUNTS[command]["accepted" if result.code == 0 else "refused"] += 1
    return result


def _check(argv, result: Result, before: dict, after: dict, outputs: tuple[str, ...]) -> None:
    assert result.code in (0, 2), f"exit {result.code} after {result.seconds:.1f} s: {result.err}"
    if result.code == 2:  # one line per problem (several --set values: several lines)
        lines = result.err.strip().splitlines()
        assert 1 <= len(lines) <= MAX_PROBLEMS, f"a refusal in {len(lines)} lines:\n{result.err}"
        assert "Traceback" not in result.err, result.err
        assert all(line and not line[0].isspace() for line in lines), result.err
    changed = [p for p in _changes(before, after) if not _under(p, outputs)]
    assert not changed, f"wrote outside its outputs {outputs}: {changed}"


def _changes(before: dict, after: dict) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def _under(path: str, outputs: tuple[str, ...]) -> bool:
    parts = Path(path).parts
    return any(parts[: len(Path(o).parts)] == Path(o).parts for o in outputs)


def _shown(argv: list[str]) -> str:
    return " ".join(repr(a) if len(a) < 80 else repr(a[:60] + "...") for a in argv)
