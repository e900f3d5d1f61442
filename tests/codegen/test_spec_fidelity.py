"""Every spec field reaches the emitted code or is refused: no setting is dropped silently.

For each shipped spec, each field of each component (nested update rules, optimizer settings
and CMS levels included), of the model and training settings and of the outer optimizer is set
to other valid values one at a time. The spec must then either be rejected with an error, or
compile to different code. A mutation that compiles to the same bytes is a setting the user
wrote and nlc ignored -- a top complaint about declarative tools.
"""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from nlc.errors import SpecError
from nlc.kinds.cms import CMSLevel
from nlc.kinds.emission import CodegenError
from nlc.spec.common import DataDependent
from nlc.spec.load import load_spec_text
from nlc.spec.schema import COMPONENT_KINDS, Block, ModelSettings, TrainSettings
from tests.codegen.helpers import render_text

SPECS = Path(__file__).resolve().parents[2] / "specs"
SHIPPED = [
    "hope.yaml",
    "hope-attention.yaml",
    "titans-lmm.yaml",
    "titans-lmm-760m.yaml",
    "titans-mac.yaml",
    "titans-mag.yaml",
    "titans-mal.yaml",
    "transformer.yaml",
    "claims/targets/deltanet.yaml",
    "claims/targets/linear-attention.yaml",
    "optimizers/transformer-m3.yaml",
]

# (kind, field path, repr(value)) mutations that may leave the code unchanged, and why.
UNCHANGED_OK = {
    ("add", "weights", "'frozen'"): "an add has no weights to freeze",
    ("lm_head", "weights", "'frozen'"): "a tied head has no weights of its own",
    ("titans_memory", "update.optimizer.momentum", "None"): (
        "optimizer kind momentum without a coefficient: the default data-dependent momentum"
    ),
    ("swiglu", "hidden", "None"): "the spec's hidden width equals the default 8/3 * width",
}
SKIP_FIELDS = {"kind", "name", "inputs", "components", "description", "nlc"}  # identity/wiring


def alternatives(ann, value) -> list:
    """Other valid-looking values for a field with annotation `ann` and current `value`."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return alternatives(args[0], value)
    if origin in (typing.Union, types.UnionType):
        members = _union_members(ann)
        if DataDependent in members:  # a coefficient: constant, data-dependent, with settings
            out = [0.03, "data_dependent", {"data_dependent": True, "init": 0.02},
                   {"data_dependent": True, "max": 0.2}]  # fmt: skip
            out += [None] if type(None) in members else []
        else:
            out = [None] if type(None) in members and value is not None else []
            for member in members:
                if member is not type(None):
                    out += alternatives(member, value)
        return [v for v in out if v != value]
    if origin is typing.Literal:
        return [a for a in args if a != value]
    if ann is bool:
        return [not value] if isinstance(value, bool) else [True]
    if ann is int:
        return [value + 1] if isinstance(value, int) and not isinstance(value, bool) else [3]
    if ann is float:
        return [value * 0.5] if isinstance(value, (int, float)) and value else [0.03]
    return []


def _union_members(ann) -> list:
    out = []
    for a in typing.get_args(ann):
        if typing.get_origin(a) is typing.Annotated:
            a = typing.get_args(a)[0]
        if typing.get_origin(a) in (typing.Union, types.UnionType):
            out += _union_members(a)
        else:
            out.append(a)
    return out


def mutations(cls: type[BaseModel], data: dict, path: tuple = ()):
    """(field path, new value) for each field of `cls` (recursing into nested settings)."""
    for name, field in cls.model_fields.items():
        if name in SKIP_FIELDS:
            continue
        value = data.get(name, field.default)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", exclude_unset=True)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from mutations(ann, dict(value or {}), path + (name,))
            continue
        if name == "levels":
            for i, level in enumerate(value):
                yield from mutations(CMSLevel, dict(level), path + (name, i))
            continue
        for new in alternatives(ann, value):
            yield path + (name,), new


def places(doc: dict):
    """(where in the document, settings class, the dict, label) for everything mutable."""
    yield ("model",), ModelSettings, doc["model"], "model"
    yield ("train",), TrainSettings, doc.setdefault("train", {}), "train"
    spec = load_spec_text(yaml.safe_dump(doc), "spec.yaml").spec
    doc.setdefault("optimizer", spec.optimizer.model_dump(mode="json", exclude_unset=True))
    yield ("optimizer",), type(spec.optimizer), doc["optimizer"], "optimizer"

    def walk(entries, at):
        for i, entry in enumerate(entries):
            if "kind" in entry:
                yield at + (i,), COMPONENT_KINDS[entry["kind"]], entry, entry["kind"]
            else:
                yield at + (i,), Block, entry, "block"
                yield from walk(entry["components"], at + (i, "components"))

    yield from walk(doc["components"], ("components",))


def _set(node, path, value):
    for key in path[:-1]:
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def ignored_settings(spec_file: str, render=render_text) -> list[str]:
    text = (SPECS / spec_file).read_text()
    doc = yaml.safe_load(text)
    base = render(text, "spec.yaml")
    ignored = []
    for where, cls, data, label in list(places(copy.deepcopy(doc))):
        for field, value in mutations(cls, data):
            if (label, ".".join(map(str, field)), repr(value)) in UNCHANGED_OK:
                continue
            changed = copy.deepcopy(doc)
            _set(changed, where + field, value)
            try:
                out = render(yaml.safe_dump(changed, sort_keys=False), "spec.yaml")
            except (SpecError, CodegenError):  # refused, with a message: the user is told
                continue
            if out == base:
                ignored.append(f"{label} {'.'.join(map(str, where + field))} = {value!r}")
    return ignored


# no kind that the specs the unit run keeps lack (titans-mac: titans-lmm's, mag's and mal's;
# hope and transformer: hope-attention's): `make test` only
SLOW_SPECS = {"titans-lmm.yaml", "titans-mag.yaml", "titans-mal.yaml", "hope-attention.yaml"}


@pytest.mark.parametrize(
    "spec_file",
    [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_SPECS else s for s in SHIPPED],
)
def test_no_setting_is_dropped_silently(spec_file):
    assert ignored_settings(spec_file) == []


def test_the_check_catches_a_dropped_setting():
    """The check itself can fail: a code generator that drops `residual` is reported."""

    def dropping(text, name):
        files = render_text(text, name)
        return {f: t.replace("residual=True", "residual=False") for f, t in files.items()}

    found = ignored_settings("titans-lmm.yaml", render=dropping)
    assert any(".residual = True" in line for line in found), found
