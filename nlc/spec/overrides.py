"""Overrides: `path=value` edits of a spec document, applied before validation (`--set` of
the commands that read a spec, `--when` of nlc verify).

Syntax (documented in README and `nlc verify --help`):
- `path` is dotted. A segment selects a mapping key (`model.context`), a list entry by index
  (`components.1`) or, in a `components` list, the entry whose `name` matches
  (`layers.cms` = the component `cms` inside the block `layers`; a leading `components.` may be
  left out, and a block's own `components` list is searched by name too).
- `value` is YAML: `outer`, `0`, `false`, `[{period: outer, hidden: 256}]`, `{kind: gd, lr: 0}`.
- Shorthand for lists of levels: a scalar assigned to a list of mappings that have a `period`
  (a CMS's `levels`) means "one level": the last (slowest) entry kept, its period set to the
  scalar. So `layers.cms.levels=outer` is "a CMS of one level of period outer".
The edited document is validated like any spec, so a value of the wrong type is reported with
the usual diagnostics (exit 2).
"""

from __future__ import annotations

import copy
from typing import Any

from nlc.errors import Diagnostic, SpecError
from nlc.spec.source import parse_value


def parse_override(text: str, file: str = "--when") -> tuple[list[str], Any]:
    """Split `path=value` into path segments and the value, read as a spec file is
    (`nlc.spec.source`: its limits and one-line messages, the argument named as the file)."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[:60])
    shown = shown if len(shown) <= 48 and len(text) <= 60 else shown[:45] + "..."
    if "=" not in text:
        raise SpecError(Diagnostic(file, None, "", f"'{shown}': expected path=value"))
    path, _, raw = text.partition("=")
    path = path.strip()
    if not path or any(not seg for seg in path.split(".")):
        raise SpecError(Diagnostic(file, None, "", f"'{shown}': empty path segment"))
    value = parse_value(raw, f"{file} {shown}", tuple(path.split(".")))
    return path.split("."), value


def _step(node: Any, seg: str, where: str, file: str, last: bool) -> tuple[Any, Any]:
    """The container and key that segment `seg` addresses inside `node`; the last segment may
    name a new mapping key (validation then rejects a typo as an unknown field)."""
    if isinstance(node, dict):
        if seg in node:
            return node, seg
        # a component name inside a block or the top level: look in its `components`
        entries = node.get("components")  # an earlier override may have set it to anything
        entries = entries if isinstance(entries, list) else []
        names = [e.get("name") for e in entries if isinstance(e, dict)]
        if seg in names or (isinstance(node.get("components"), list) and not last):
            return _step(node["components"], seg, where, file, last)
        if last:
            return node, seg
        raise SpecError(Diagnostic(file, None, where, f"no field '{seg}' here"))
    if isinstance(node, list):
        if seg.isdigit() and int(seg) < len(node):
            return node, int(seg)
        for i, entry in enumerate(node):
            if isinstance(entry, dict) and entry.get("name") == seg:
                return node, i
        # names as the spec holds them: an earlier override may have set one to a non-string
        names = [str(e["name"]) for e in node if isinstance(e, dict) and "name" in e]
        hint = f"; expected an index or one of: {', '.join(names)}" if names else ""
        raise SpecError(Diagnostic(file, None, where, f"no entry '{seg}'{hint}"))
    raise SpecError(Diagnostic(file, None, where, f"cannot descend into a {type(node).__name__}"))


def apply_override(doc: dict, path: list[str], value: Any, file: str = "--when") -> dict:
    """A copy of `doc` with `path` set to `value` (see the module docstring)."""
    doc = copy.deepcopy(doc)
    node: Any = doc
    for i, seg in enumerate(path):
        where = ".".join(path[: i + 1])
        container, key = _step(node, seg, where, file, i == len(path) - 1)
        if i == len(path) - 1:
            old = container.get(key) if isinstance(container, dict) else container[key]
            if _is_level_list(old) and not isinstance(value, (list, dict)):
                value = [{**old[-1], "period": value}]
            container[key] = value
        else:
            node = container[key]
    return doc


def _is_level_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(e, dict) and "period" in e for e in value)
    )


def apply_overrides(doc: dict, overrides: list[str], file: str = "--when") -> dict:
    for text in overrides:
        path, value = parse_override(text, file)
        doc = apply_override(doc, path, value, file)
    return doc
