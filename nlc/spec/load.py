"""Load a spec file: YAML with line numbers -> validated `Spec`, or a `SpecError` whose
diagnostics name the file, the line and the field path of every problem."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from nlc.errors import Diagnostic, SpecError, format_path
from nlc.spec import optimizers, schema
from nlc.spec.overrides import apply_overrides
from nlc.spec.source import SourceMap, parse_yaml, read_yaml_file

_TAGS = set(schema.COMPONENT_KINDS) | {"block"} | set(optimizers.OPTIMIZER_KINDS)


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with the source map that locates its fields."""

    spec: schema.Spec
    source: SourceMap

    @property
    def file(self) -> str:
        return self.source.file


def _models() -> set[type[BaseModel]]:
    """Every model of the spec language (the document's and every one nested in them)."""
    stack: list[Any] = [schema.Spec, schema.Block, *optimizers.OPTIMIZER_KINDS.values()]
    stack += list(schema.COMPONENT_KINDS.values())
    seen: set[Any] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item not in seen:
                seen.add(item)
                stack += [f.annotation for f in item.model_fields.values()]
        else:  # list[X], X | None, Annotated[...]: look inside
            stack += list(get_args(item))
    return seen


_BRANCHES = {model.__name__ for model in _models()}
"""Union branch names pydantic puts in an error's location (`DataDependent`), not keys."""


def _known_fields() -> list[str]:
    """Every field name of the spec language (for 'did you mean' suggestions): the fields of
    the document's models and of every model nested in them (a kind's own, such as a CMS
    level's, included)."""
    return sorted({name for model in _models() for name in model.model_fields})


def _normalize(loc: tuple, data: Any) -> tuple:
    """Drop pydantic's union tags and branch names from `loc`, keeping only real data keys."""
    out: list = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
            elif (
                part in _TAGS
                or part in _BRANCHES
                or not isinstance(part, str)
                or "[" in part
                or part in ("int", "float", "str", "bool")
            ):
                continue  # a union tag or branch name, not a key of the data
            else:
                out.append(part)  # a missing or unknown key: keep it, stop descending
                node = None
        elif isinstance(node, list):
            if isinstance(part, int) and 0 <= part < len(node):
                out.append(part)
                node = node[part]
            else:
                continue
        else:
            break  # a scalar: everything after is a union branch name
    return tuple(out)


def _message(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = err["loc"][-1]
        close = difflib.get_close_matches(str(key), _known_fields(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return f"missing required field '{err['loc'][-1]}'"
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        catalog = optimizers.OPTIMIZER_KINDS if err["loc"][:1] == ("optimizer",) else None
        names = sorted(catalog or schema.COMPONENT_KINDS)
        close = difflib.get_close_matches(tag, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown kind '{tag}'{hint}; expected one of: {', '.join(names)}"
    if kind == "union_tag_not_found":
        return (
            "expected a component (a mapping with 'kind') or a block (a mapping with 'components')"
        )
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if msg.startswith("Input should be "):
        msg = "expected " + msg.removeprefix("Input should be ")
        msg = re.sub(r"a valid dictionary or instance of \w+", "a mapping", msg)
        msg = msg.split(", unable to")[0].replace("a valid number", "a number")
    return msg


def validate(data: Any, source: SourceMap) -> schema.Spec:
    """Validate parsed YAML data against the spec schema."""
    if not isinstance(data, dict):
        raise SpecError(Diagnostic(source.file, 1, "", "a spec must be a YAML mapping"))
    try:
        return schema.Spec.model_validate(data)
    except ValidationError as exc:
        grouped: dict[tuple, list[str]] = {}
        inputs: dict[tuple, Any] = {}
        for err in exc.errors():
            loc = _normalize(err["loc"], data)
            msg = _message(err)
            if msg not in grouped.setdefault(loc, []):
                grouped[loc].append(msg)
            if msg.startswith("expected ") and not isinstance(err.get("input"), (dict, list)):
                inputs[loc] = err.get("input")
        # a union of a number and a mapping given a mapping: the number branch's "expected a
        # number" says nothing when the mapping branch has found what is wrong inside
        for loc in [loc for loc, msgs in grouped.items() if loc not in inputs]:
            deeper = any(len(other) > len(loc) and other[: len(loc)] == loc for other in grouped)
            if deeper and all(m.startswith("expected ") for m in grouped[loc]):
                del grouped[loc]
        diags = []
        for loc, msgs in grouped.items():
            if all(m.startswith("expected ") for m in msgs):
                text = "expected " + " or ".join(m.removeprefix("expected ") for m in msgs)
                if loc in inputs:
                    text += f"; got {inputs[loc]!r}"
            else:
                text = "; ".join(msgs)
            diags.append(Diagnostic(source.file, source.line_of(loc), format_path(loc), text))
        diags.sort(key=lambda d: (d.line or 0, d.path))
        raise SpecError(diags) from None


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> LoadedSpec:
    """Read, parse and validate a spec file; `overrides` (`--set PATH=VALUE`, the `--when`
    syntax of nlc verify) edit the document before validation."""
    data, source = read_yaml_file(path)
    if overrides:
        if not isinstance(data, dict):
            raise SpecError(Diagnostic(str(path), None, "", "a spec is a YAML mapping"))
        data = apply_overrides(data, list(overrides), "--set")
    return LoadedSpec(validate(data, source), source)


def load_spec_text(text: str, file: str = "<spec>") -> LoadedSpec:
    """Parse and validate spec text (tests, generated specs)."""
    data, source = parse_yaml(text, file)
    return LoadedSpec(validate(data, source), source)
