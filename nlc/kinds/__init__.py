"""The component kinds, one module per kind: each declares the kind's spec fields (a pydantic
model), its states and tensor shapes, its output width, the typed description of its runtime call
(runtime class, arguments, update groups; code generation renders it) and, for memories, how
it compares and freezes (`nlc.kinds.base` lists the hooks). The registries are derived here
from the modules: a module with a `KIND` attribute is a kind, registered under the name its
`kind` field takes. Adding a kind is one new module here plus its runtime class and tests:
the reference interpreter steps any streaming runtime module (`nlc.verify.steps`), chunk
kernels register themselves with the runtime (`nlc_runtime.exec.kernels`), and the kind
contract test builds every kind's runtime module from its `examples`.

Shared pieces, not kinds: `base` (ComponentBase, shape helpers), `emission` (the description
types: Emission, Construct, Runtime, Call, Group), `memory` (what the parametric memories
share).
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


RUNTIMES = tuple(sorted({r for cls in KINDS.values() for r in cls.runtimes}, key=repr))
"""Every runtime class a kind may build (the union of the kinds' `runtimes`)."""
