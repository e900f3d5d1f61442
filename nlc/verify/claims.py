"""Shipped claims: `specs/claims/*.yaml`, each one `nlc verify` invocation written down.

A claim file:
    name: hope-attention-is-transformer      # how --claim and --list call it
    description: one line shown by --list
    spec: ../hope-attention.yaml             # relative to the claim file
    when: ["layers.cms.levels=outer"]        # --when overrides of the spec
    collapses_to: transformer                # a named form or a spec file (relative path)
    target_when: ["layers.mlp.hidden=256"]   # --target-when overrides
    expect: holds                            # or `fails` (a claim that must not hold)
    numerical: true                          # false: structural only (e.g. nothing emitted)
    note: what could not be shown, if anything

An optimizer claim names an `optimizer` section instead of spec/collapses_to:
    optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}
    reference: sgd                           # torch.optim.SGD (or adam, adamw)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlc.errors import Diagnostic, SpecError
from nlc.resources import claims_dir
from nlc.verify.targets import NAMED_FORMS


@dataclass(frozen=True)
class Claim:
    name: str
    description: str
    spec: str = ""
    collapses_to: str = ""
    when: list[str] = field(default_factory=list)
    target_when: list[str] = field(default_factory=list)
    expect: str = "holds"
    numerical: bool = True
    note: str = ""
    optimizer: dict | None = None  # an optimizer claim: this section ...
    reference: str = ""  # ... reproduces torch.optim's class of this name


_FIELDS = {"name", "description", "spec", "collapses_to", "when", "target_when", "expect",
           "numerical", "note", "optimizer", "reference"}  # fmt: skip


def load_claim(path: Path) -> Claim:
    doc = yaml.safe_load(path.read_text())
    unknown = set(doc) - _FIELDS
    if unknown or doc.get("expect", "holds") not in ("holds", "fails"):
        raise SpecError(Diagnostic(str(path), None, "", f"bad claim fields {sorted(unknown)}"))
    if "optimizer" in doc:
        from nlc.verify.optimizer_claim import REFERENCES

        if doc.get("reference") not in REFERENCES or not isinstance(doc["optimizer"], dict):
            raise SpecError(
                Diagnostic(str(path), None, "reference", f"expected one of {sorted(REFERENCES)}")
            )
        return Claim(**doc)
    doc["spec"] = str((path.parent / doc["spec"]).resolve())
    target = doc["collapses_to"]
    if target not in NAMED_FORMS:
        doc["collapses_to"] = str((path.parent / target).resolve())
    return Claim(**doc)


def shipped_claims() -> list[Claim]:
    return [load_claim(p) for p in sorted(claims_dir().glob("*.yaml"))]


def find_claim(name: str) -> Claim:
    claims = {c.name: c for c in shipped_claims()}
    if name not in claims:
        raise SpecError(
            Diagnostic("--claim", None, "", f"unknown claim '{name}'; known: {', '.join(claims)}")
        )
    return claims[name]
