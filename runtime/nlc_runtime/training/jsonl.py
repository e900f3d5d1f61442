"""JSONL readers. `read_records`: the records of a file with their line numbers, one reader for
task files, both where training reads them (`examples`, errors as DataError) and where nlc
scores them (`nlc.tasks.taskfile`, errors as TaskError); `jsonl_text`: the text field of one
line of a corpus. No torch here: nlc's front half imports it."""

from __future__ import annotations

import json
from pathlib import Path

from nlc_runtime.errors import DataError


def read_records(path: Path, error: type[Exception]) -> list[tuple[int, object]]:
    """(line number, decoded JSON) of every non-blank line; an unreadable file or a line that
    is not JSON raises `error` with one line naming FILE[:LINE]."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise error(f"{path}: no such task file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            raise error(f"{path}:{number}: not JSON: {err.msg}") from None
    return records


def jsonl_text(path: Path, number: int, line: str, field: str = "text") -> str:
    """The string `field` of JSONL line `number` of `path`; a bad line is one DataError."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{number}: not JSON: {err.msg}") from None
    if not isinstance(record, dict) or not isinstance(record.get(field), str):
        raise DataError(f"{path}:{number}: expected an object with a string '{field}' field")
    return record[field]
