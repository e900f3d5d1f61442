"""Which specs a claim compares: a spec file, or a named form of the model zoo.

A named form (`transformer`, `titans-lmm`, `titans-mac`, `titans-mag`, `titans-mal`) is the
zoo spec `specs/<name>.yaml` with its `model` section (sizes, context, layer count) and its
`optimizer` taken from the spec it is compared with: a claim is about the architecture, and
two models of different widths can never be the same model. A spec file is used as written.
Overrides (`--when`, `--target-when`) are applied to the YAML document before validation.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from nlc.errors import Diagnostic, SpecError
from nlc.resources import presets_dir
from nlc.spec.load import LoadedSpec, load_spec_text
from nlc.spec.overrides import apply_overrides
from nlc.spec.source import read_yaml_file

NAMED_FORMS = ("transformer", "titans-lmm", "titans-mac", "titans-mag", "titans-mal")


def read_doc(path: str | Path) -> dict:
    """The YAML document of a spec file (errors: exit 2 with the file named)."""
    data, _ = read_yaml_file(path)
    if not isinstance(data, dict):
        raise SpecError(Diagnostic(str(path), None, "", "a spec is a YAML mapping"))
    return data


def load_doc(doc: dict, label: str) -> LoadedSpec:
    """Validate an (edited) document; diagnostics name `label`."""
    return load_spec_text(yaml.safe_dump(doc, sort_keys=False), label)


def source_doc(spec: str | Path, when: list[str]) -> tuple[dict, str]:
    doc = apply_overrides(read_doc(spec), when)
    return doc, _label(str(spec), when)


def target_doc(target: str, source: dict, when: list[str]) -> tuple[dict, str]:
    """The document of TARGET (a named form or a file) with overrides applied."""
    if target in NAMED_FORMS:
        doc = read_doc(presets_dir() / f"{target}.yaml")
        doc["model"] = copy.deepcopy(source.get("model", doc.get("model")))
        if "optimizer" in source:
            doc["optimizer"] = copy.deepcopy(source["optimizer"])
    elif Path(target).is_file():
        doc = read_doc(target)
    else:
        raise SpecError(
            Diagnostic(
                "--collapses-to",
                None,
                "",
                f"'{target}' is neither a spec file nor a named form ({', '.join(NAMED_FORMS)})",
            )
        )
    return apply_overrides(doc, when, "--target-when"), _label(target, when)


def _label(name: str, when: list[str]) -> str:
    return f"{name} [{', '.join(when)}]" if when else name
