"""Where `nlc eval` keeps what it measured: RUN/eval/NAME.json, one file per kind of
evaluation, rewritten when it is run again; `nlc compare` reads them back.

NAME says what was scored: `val` (windows over the run's validation split), `all`, or the
stem of a `--data` file; `stream-` in front for `--stream`; `-first N` after it for
`--max-tokens N`; `task-passkey` / `task-STEM` for a task (its PNG beside it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

FOLDER = "eval"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "data"


def result_name(args) -> str:
    """The file name (without .json) for an evaluation given these `nlc eval` options."""
    suffix = "-frozen-cms" if getattr(args, "frozen_cms", False) else ""
    if getattr(args, "task", None):
        from nlc.tasks import TASKS

        return "task-" + _slug(args.task if args.task in TASKS else Path(args.task).stem) + suffix
    if args.data is not None:
        source = _slug(Path(args.data).stem)
        source += "-val" if args.split == "val" else ""
    else:
        source = args.split or "val"
    name = ("stream-" if args.stream else "") + source
    if args.max_tokens is not None:
        name += f"-first{args.max_tokens}"
    return name + suffix


def check_result_path(run: Path, name: str) -> Path:
    """RUN/eval/NAME.json as `save_result` will write it: a regular file (or none yet) inside
    RUN; a RUN/eval that is a symbolic link out of the run, a file, or a NAME.json that is a
    folder or a device raises `nlc.files.WriteError` (one line, exit 2)."""
    from nlc.files import check_target

    return check_target(run / FOLDER / f"{name}.json", inside=run)


def save_result(run: Path, name: str, report: dict) -> Path | None:
    """Write RUN/eval/NAME.json atomically (`nlc.files.write_file`, never through a link out of
    RUN); a read-only run folder only loses the copy (the result is printed anyway), so a
    failure to write is a warning, not an error."""
    from nlc.files import WriteError, write_file

    out = run / FOLDER / f"{name}.json"
    try:
        write_file(out, json.dumps(report, indent=2) + "\n", inside=run)
    except WriteError:
        return None
    return out


def read_results(run: Path, error: type[Exception]) -> dict[str, dict]:
    """NAME -> report of every RUN/eval/*.json, sorted by name; a file that is not a regular
    file, not UTF-8 JSON or not an object raises `error` naming it."""
    from nlc.files import read_regular

    found = {}
    folder = run / FOLDER
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            report = json.loads(read_regular(path, error).decode("utf-8"))
        except ValueError as err:  # not UTF-8, or not JSON
            raise error(f"{path}: not a saved evaluation (not JSON: {err})") from None
        if not isinstance(report, dict):
            raise error(f"{path}: not a saved evaluation (not a JSON object)")
        found[path.stem] = report
    return found
