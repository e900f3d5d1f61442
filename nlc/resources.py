"""Where the files nlc ships live: the presets, claims and JSON Schema (the package data
`nlc.presets_data`, the checkout's `specs/` folder). Found with importlib.resources, so an
installed wheel and an editable checkout resolve them the same way, from any folder.

The package is not zip-safe (pyproject.toml), so the location is a folder on disk and plain
`Path`s work: the spec reader, claims that name their spec by a relative path, and editors
(the presets' yaml-language-server modeline names the schema file beside them).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

SCHEMA_FILE = "nlc.schema.json"


@cache
def presets_dir() -> Path:
    """The folder of the shipped presets (`hope.yaml` ...), with `claims/` and `optimizers/`."""
    return Path(str(files("nlc.presets_data")))


def claims_dir() -> Path:
    return presets_dir() / "claims"


def schema_file() -> Path:
    """The JSON Schema of the spec language as shipped (equal to `nlc schema`'s output)."""
    return presets_dir() / SCHEMA_FILE
