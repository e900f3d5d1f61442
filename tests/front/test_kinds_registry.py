"""The kind registries are derived from the modules of `nlc.kinds` (a kind is one
module): every module with a `KIND` is in the spec schema's union, has its own code generator,
and the runtime classes are the union of what the kinds declare (each built from the kinds'
descriptions in tests/codegen/test_kind_contract.py)."""

from __future__ import annotations

import importlib
import pkgutil

import nlc.kinds
from nlc.kinds import KINDS, RUNTIMES
from nlc.kinds.base import ComponentBase
from nlc.spec.schema import COMPONENT_KINDS
from nlc.spec.schema_file import schema_text

SHARED = {"base", "emission", "memory"}


def test_every_kind_module_is_registered_and_nothing_else():
    modules = {m.name for m in pkgutil.iter_modules(nlc.kinds.__path__)}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in KINDS.values()} == modules - SHARED
    assert all(not hasattr(importlib.import_module(f"nlc.kinds.{m}"), "KIND") for m in SHARED)
    assert COMPONENT_KINDS is KINDS
    for name, cls in KINDS.items():
        assert f'"{name}"' in schema_text()  # in the JSON Schema editors read
        assert cls.emit is not ComponentBase.emit, f"{name} has no code generator"


def test_the_runtime_classes_are_the_kinds_and_every_import_line_binds_its_name():
    assert set(RUNTIMES) == {r for c in KINDS.values() for r in c.runtimes}
    for runtime in RUNTIMES:
        bound: dict = {}
        exec(runtime.import_line, bound)  # noqa: S102 (the runtime's own import lines)
        owner = bound[runtime.alias] if runtime.alias else bound
        cls = getattr(owner, runtime.name) if runtime.alias else owner[runtime.name]
        assert cls is runtime.load()
