"""Structural mutants of the shipped specs, as a hypothesis strategy (`mutants()`).

A mutant is a shipped spec (shrunk to test size) with one to three edits of the kinds a user
or an attacker makes: a key deleted, a value of another type, a component duplicated, two
components swapped, a component renamed (to a keyword, a name the emitted code uses, another
component's name), a period changed. The fuzz tests feed them to `nlc check` and `nlc compile`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import strategies as st

from tests.codegen.helpers import shrink_doc
from tests.conftest import SPECS


def base_specs() -> list[tuple[str, dict]]:
    """(file name, shrunk document) for every shipped spec: presets, claims, optimizers."""
    files = sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*/*.yaml"))
    files += sorted(SPECS.glob("*/*/*.yaml"))
    out = []
    for path in files:
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and "components" in doc:  # claims hold a spec path, not a spec
            out.append((str(path.relative_to(SPECS)), shrink_doc(doc)))
    return out


BASES = base_specs()

# Values of every YAML type, including ones that are valid somewhere (so a retyped field can
# land on a legal but different setting) and extremes.
VALUES = [0, 1, -1, 3, 7, 64, 2**40, 0.5, 1e-12, 1e30, float("nan"), float("inf"), True, False,
          None, "", "x", "outer", "frozen", "data_dependent", "lm", "in", [], [1, 2], ["in"], {},
          {"a": 1}, {"data_dependent": True}]  # fmt: skip
NAMES = ["model", "Model", "config", "Config", "train", "train_", "class", "self", "torch", "nn",
         "F", "layers", "Layers", "a__b", "a_b", "in", "x y", "1a", "é", "mem"]  # fmt: skip
PERIODS = [1, 2, 3, 7, 16, 48, 1000, 0, -4, 2**31, 1.5, "outer", "frozen", "fast", None]


def _paths(node, at=()):
    """Every (container path, key) under `node`: dict keys and list indices."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield at, key
        yield from _paths(child, at + (key,))


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _component_lists(doc):
    """Paths of every `components` list (the model's and each block's)."""
    return [at + (key,) for at, key in _paths(doc) if key == "components"]


@st.composite
def _edit(draw, doc: dict) -> None:
    """Apply one random edit to `doc` in place."""
    kind = draw(st.sampled_from(["delete", "retype", "duplicate", "swap", "rename", "period"]))
    paths = list(_paths(doc))
    lists = [p for p in _component_lists(doc) if isinstance(_get(doc, p), list) and _get(doc, p)]
    if kind == "delete":
        at, key = draw(st.sampled_from(paths))
        container = _get(doc, at)
        del container[key]
    elif kind == "retype":
        at, key = draw(st.sampled_from(paths))
        _get(doc, at)[key] = copy.deepcopy(draw(st.sampled_from(VALUES)))
    elif kind in ("duplicate", "swap", "rename") and lists:
        entries = _get(doc, draw(st.sampled_from(lists)))
        i = draw(st.integers(0, len(entries) - 1))
        j = draw(st.integers(0, len(entries) - 1))
        if kind == "duplicate":
            entries.insert(j, copy.deepcopy(entries[i]))
        elif kind == "swap":
            entries[i], entries[j] = entries[j], entries[i]
        elif isinstance(entries[i], dict):
            other = entries[j].get("name") if isinstance(entries[j], dict) else None
            entries[i]["name"] = draw(st.sampled_from(NAMES + [other]))
    elif kind == "period":
        where = [(at, key) for at, key in paths if key == "period"]
        if where:
            at, key = draw(st.sampled_from(where))
            _get(doc, at)[key] = draw(st.sampled_from(PERIODS))


@st.composite
def mutants(draw) -> tuple[str, str]:
    """(base file name, YAML text of a mutant with one to three edits)."""
    name, base = draw(st.sampled_from(BASES))
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        draw(_edit(doc))
    return name, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def spec_file(folder: Path, text: str) -> Path:
    path = folder / "mutant.yaml"
    path.write_text(text, encoding="utf-8")
    return path
