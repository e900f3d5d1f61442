"""The component kinds, one module per kind: each declares the kind's spec fields (a pydantic
model), its states and tensor shapes, its output width, how it is emitted (runtime module,
call, update groups, the imports that code needs) and, for memories, how it compares and
freezes (`nlc.kinds.base` lists the hooks). The registries are derived here from the modules:
a module with a `KIND` attribute is a kind, registered under the name its `kind` field takes.
Adding a kind is one new module here plus its runtime class and tests; the reference
interpreter steps any streaming runtime module (`nlc.verify.steps`), and which chunk bodies
`torch.compile` sees is the runtime's own list (`nlc_runtime.exec.compile`).

Shared pieces, not kinds: `base` (ComponentBase, shape helpers), `emission` (Emission and the
code-writing helpers), `memory` (what the parametric memories share).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import get_args

from nlc.kinds.base import ComponentBase


def _discover() -> dict[str, type[ComponentBase]]:
    kinds: dict[str, type[ComponentBase]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        cls = getattr(importlib.import_module(f"{__name__}.{info.name}"), "KIND", None)
        if cls is not None:
            (name,) = get_args(cls.model_fields["kind"].annotation)
            kinds[name] = cls
    return kinds


KINDS = _discover()
"""Every component kind, by the name a spec uses in `kind:` (in module-name order)."""


def _runtime_imports() -> dict[str, str]:
    out: dict[str, str] = {}
    for cls in KINDS.values():
        for symbol, line in cls.runtime.items():
            if out.setdefault(symbol, line) != line:
                raise ValueError(f"kinds disagree on the import for {symbol!r}")
    return dict(sorted(out.items()))


RUNTIME_IMPORTS = _runtime_imports()
"""Which runtime import a piece of emitted code needs, keyed by the text that uses it: the
union of the kinds' `runtime` tables."""
