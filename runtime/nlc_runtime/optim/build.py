"""`build_optimizer`: the outer optimizer of a spec, from its `optimizer` section, for a model
whose module paths are the spec's component names (as emitted: `layers.0.mlp.up.weight`).

The emitted train.py can pass the spec's optimizer settings through unchanged:
    build_optimizer(model, **OPTIMIZER, adamw_components=("head",))
with OPTIMIZER = the `optimizer` mapping of the spec (kind, lr, ..., `adamw: {...}`, `groups`).

Param groups: one per (spec group, rule, decayed?) that has parameters. Weight decay applies
to ≥2-D tensors only (vectors — norm gains, biases — never decay, as in the current train.py);
`groups` entries give matching components a `period` (fnmatch on component names, checked
against every dotted prefix of a parameter's name). Every group records `initial_lr`, so a
schedule can scale each group's own rate: group["lr"] = group["initial_lr"] * factor (Muon's
AdamW groups have another rate than its matrices).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import torch.nn as nn

from nlc_runtime.optim.adam import AdamMemory, AdamWMemory
from nlc_runtime.optim.deep import DMGD, DeltaMomentum, PreconditionedMomentum
from nlc_runtime.optim.dgd import DGD
from nlc_runtime.optim.muon import M3, Muon
from nlc_runtime.optim.sgd import SGDMemory

SPEC_KINDS = {
    "sgd": SGDMemory,
    "adam": AdamMemory,
    "adamw": AdamWMemory,
    "delta_momentum": DeltaMomentum,
    "dmgd": DMGD,
    "preconditioned_momentum": PreconditionedMomentum,
    "muon": Muon,
    "m3": M3,
    "dgd": DGD,
}
"""The runtime class of each spec `optimizer.kind`."""

_MATRIX = {"muon", "m3"}


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _group_index(name: str, groups: Sequence[dict]) -> int | None:
    for i, group in enumerate(groups):
        if any(fnmatch.fnmatchcase(p, group["match"]) for p in _prefixes(name)):
            return i
    return None


def build_optimizer(
    model: nn.Module,
    kind: str,
    groups: Sequence[dict] = (),
    adamw: dict | None = None,
    adamw_components: Sequence[str] = (),
    **settings,
):
    """The optimizer for `model` (see the module docstring). `adamw_components`: components
    kept on AdamW under Muon/M3 besides embeddings (e.g. an untied lm_head)."""
    if kind not in SPEC_KINDS:
        raise ValueError(f"unknown optimizer kind {kind!r}; expected one of {sorted(SPEC_KINDS)}")
    cls = SPEC_KINDS[kind]
    if kind in ("adam", "adamw"):
        settings["decoupled"] = kind == "adamw"
        cls = AdamMemory
    wd = settings.get("weight_decay", 0.0)
    adamw = dict(adamw or {})
    if kind in _MATRIX:
        for key, value in adamw.items():
            settings[f"adamw_{key}"] = tuple(value) if key == "betas" else value
    if "betas" in settings:
        settings["betas"] = tuple(settings["betas"])
    embedding = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()
    }
    buckets: dict[tuple, list] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        index = _group_index(name, groups)
        rule = None
        if kind in _MATRIX:
            on_adamw = id(p) in embedding or p.dim() < 2
            on_adamw |= any(name.startswith(c + ".") for c in adamw_components)
            rule = "adamw" if on_adamw else kind
        buckets.setdefault((index, rule, p.dim() >= 2), []).append(p)
    param_groups = []
    for (index, rule, matrix), params in buckets.items():
        group: dict = {"params": params}
        if index is not None:
            group["period"] = groups[index]["period"]
        if rule is not None:
            group["rule"] = rule
        if rule == "adamw":
            group["weight_decay"] = adamw.get("weight_decay", 0.0) if matrix else 0.0
        else:
            group["weight_decay"] = wd if matrix else 0.0
        param_groups.append(group)
    optimizer = cls(param_groups, **settings)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    if kind == "dgd":
        optimizer.track(model)
    return optimizer
