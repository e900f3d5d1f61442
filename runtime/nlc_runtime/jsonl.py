"""The records of a JSONL file with their line numbers: one reader for task files, both where
training reads them (`examples`, errors as DataError) and where nlc scores them
(`nlc.tasks.taskfile`, errors as TaskError). No torch here: nlc's front half imports it."""

from __future__ import annotations

import json
from pathlib import Path


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
