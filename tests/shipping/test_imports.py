"""The house's import structure: no import cycles, and no arrow from a lower layer up.

Every module of `nlc/` and `runtime/nlc_runtime/` is parsed with `ast` (never imported) and
every import statement in it counts: module-level, function-local, under `TYPE_CHECKING` or in
a `try`, relative ones resolved against the module's package. `from a.b import c` is an arrow
to the module `a.b.c` when there is one, else to `a.b`; importing a submodule is not counted as
an arrow to its parent packages (Python runs a package's `__init__` first, so a package that
imports its own submodules is no cycle).

The layers, lowest first (`LAYERS`); a module may import its own layer and the ones below:

- the runtime, which never imports `nlc`: `nlc_runtime/__init__`, `errors`, `testing` <
  `exec/`, `optim/` < `memories/`, `layers/` < `training/`;
- `nlc` basics: `__init__`, `errors`, `files`, `limits`, `resources`, and `presets` (the
  preset names and `--set`: it needs only `resources`, and `spec/source.py` reads it);
- the spec language's leaves: `spec/common.py`, `spec/source.py`, `spec/optimizers.py` (the
  optimizer part of the schema, needing only `spec/common.py`) and `spec/overrides.py` (the
  `--set`/`--when` edits of a document, needing only `spec/source.py`);
- `ir/` < `kinds/` < the spec schema: `spec/schema.py`, `spec/load.py`, `spec/schema_file.py`;
- `passes/` < `codegen/`, `pipeline`, `plan_text`, `report` < `verify/`, `viz/`;
- the applications: `tasks/` (recall tasks: generate, score, report) < `train/` (`nlc eval`
  scores tasks on a run) < `recall/` (the MQAR bench: trains and scores with both);
- `cli`, `__main__`: the commands, on top.

A new module outside the packages named here must be given a layer (the test says so).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"nlc": ROOT / "nlc", "nlc_runtime": ROOT / "runtime" / "nlc_runtime"}

# Lowest first. "a.b.*" is the package a.b and everything under it; other names are one module.
# The most specific entry places a module.
LAYERS: list[tuple[str, list[str]]] = [
    ("runtime basics", ["nlc_runtime", "nlc_runtime.errors", "nlc_runtime.testing"]),
    ("runtime exec, optim", ["nlc_runtime.exec.*", "nlc_runtime.optim.*"]),
    ("runtime memories, layers", ["nlc_runtime.memories.*", "nlc_runtime.layers.*"]),
    ("runtime training", ["nlc_runtime.training.*"]),
    (
        "nlc basics",
        ["nlc", "nlc.errors", "nlc.files", "nlc.limits", "nlc.resources", "nlc.presets"],
    ),
    (
        "spec leaves",
        ["nlc.spec.common", "nlc.spec.source", "nlc.spec.optimizers", "nlc.spec.overrides"],
    ),
    ("ir", ["nlc.ir.*"]),
    ("kinds", ["nlc.kinds.*"]),
    ("spec schema", ["nlc.spec.schema", "nlc.spec.load", "nlc.spec.schema_file"]),
    ("passes", ["nlc.passes.*"]),
    ("codegen", ["nlc.codegen.*", "nlc.pipeline", "nlc.plan_text", "nlc.report"]),
    ("verify, viz", ["nlc.verify.*", "nlc.viz.*"]),
    ("tasks", ["nlc.tasks.*"]),
    ("train", ["nlc.train.*"]),
    ("recall", ["nlc.recall.*"]),
    ("cli", ["nlc.cli", "nlc.__main__"]),
]


@dataclass(frozen=True)
class Import:
    """One import statement's arrow: `module` imports `target` at `file`:`line`."""

    module: str
    target: str
    file: str
    line: int


def find_modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name)."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(dotted name, line) of everything an import statement anywhere in `source` names:
    `import a.b` gives a.b; `from a.b import c, d` gives a.b.c and a.b.d (a name that is no
    module falls back to a.b in `resolve`); relative imports resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{parent}.{base}" if base else parent
            names += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return names


def resolve(name: str, modules) -> str | None:
    """The module of ours `name` reaches: itself, else the closest enclosing one; None when
    it is not ours (torch, the standard library)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> nx.DiGraph:
    """Modules as nodes, an arrow per importing pair; each arrow keeps its `Import`s."""
    modules = find_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        for name, line in imported_names(source, module, path.name == "__init__.py"):
            target = resolve(name, modules)
            if target is None or target == module:
                continue
            where = Import(module, target, str(path.relative_to(ROOT)), line)
            if not graph.has_edge(module, target):
                graph.add_edge(module, target, imports=[])
            if where not in graph[module][target]["imports"]:  # `from a import b, c`: once
                graph[module][target]["imports"].append(where)
    return graph


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the most specific entry that covers `module`."""
    best, best_len = None, -1
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            prefix = entry.removesuffix(".*")
            covers = module == prefix or (entry.endswith(".*") and module.startswith(prefix + "."))
            specific = len(prefix) + (0 if entry.endswith(".*") else 1)  # exact beats package
            if covers and specific > best_len:
                best, best_len = index, specific
    return best


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph()


def _shown(imports: list[Import]) -> str:
    return ", ".join(f"{i.file}:{i.line}" for i in imports)


def test_there_are_no_import_cycles(graph):
    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        cycle = nx.find_cycle(graph.subgraph(component))
        arrows = [f"  {a} -> {b} ({_shown(graph[a][b]['imports'])})" for a, b in cycle]
        cycles.append("\n".join([f"cycle among {sorted(component)}:", *arrows]))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_module_has_a_layer(graph):
    unplaced = sorted(m for m in graph if layer_of(m) is None)
    assert not unplaced, f"modules with no layer (add them to LAYERS in {__file__}): {unplaced}"


def test_no_module_imports_a_higher_layer(graph):
    upward = []
    for module, target, data in graph.edges(data=True):
        low, high = layer_of(module), layer_of(target)
        if low is None or high is None or high <= low:
            continue
        for i in data["imports"]:
            upward.append(
                f"{i.file}:{i.line}: {module} ({LAYERS[low][0]}) imports {target} "
                f"({LAYERS[high][0]})"
            )
    assert not upward, "imports from a lower layer up:\n" + "\n".join(sorted(upward))


def test_the_parser_sees_local_conditional_and_relative_imports():
    """The graph's reader on a made-up module `nlc.spec.made_up`: a function-local import, a
    TYPE_CHECKING one and relative ones all count, resolved to the modules they reach."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import torch\n"
        "from . import schema\n"
        "from .source import parse_value\n"
        "from ..codegen import emit\n"
        "if TYPE_CHECKING:\n"
        "    from nlc.ir.graph import Graph\n"
        "def f():\n"
        "    import nlc.train.run as run\n"
    )
    modules = find_modules()
    found = {
        (resolve(name, modules), line)
        for name, line in imported_names(source, "nlc.spec.made_up", False)
    }
    assert found == {
        (None, 1),
        (None, 2),
        ("nlc.spec.schema", 3),
        ("nlc.spec.source", 4),
        ("nlc.codegen.emit", 5),
        ("nlc.ir.graph", 7),
        ("nlc.train.run", 9),
    }
    assert imported_names("from .. import x\n", "nlc.codegen", True) == [("nlc.x", 1)]


def test_the_layers_are_ordered_as_the_tree_is(graph):
    """The table is no formality: the commands import the applications, codegen the passes,
    and a module placed by its package lands in that package's layer."""
    assert graph.has_edge("nlc.cli", "nlc.train.cli")
    assert graph.has_edge("nlc.codegen.emit", "nlc.passes.plan_schedule")
    names = [name for name, _ in LAYERS]
    assert layer_of("nlc.kinds.conv") == names.index("kinds")
    assert layer_of("nlc.spec.source") < layer_of("nlc.ir.graph") < layer_of("nlc.spec.schema")
    assert layer_of("nlc_runtime.training.data") < layer_of("nlc")
