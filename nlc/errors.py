"""Diagnostics for bad input: every user-facing error names the file, line and field path.

The CLI catches `SpecError` and prints its diagnostics as ``FILE:LINE: field.path: message``
on stderr with exit code 2, so bad input never shows a Python traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in the user's input."""

    file: str
    line: int | None  # 1-based; None when the problem has no single line (e.g. a missing file)
    path: str  # dotted field path inside the spec, '' for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(Exception):
    """Raised for invalid specs (and other bad user input); carries one or more diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def format_path(loc: tuple) -> str:
    """Render a location tuple such as ('components', 1, 'update', 'period') as
    'components[1].update.period'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
