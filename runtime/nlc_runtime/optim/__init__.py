"""Outer optimizers as associative memories (NL §4; notes §1.3, §1.5 M3).

`rules` holds one pure per-tensor function per rule, its inner objective in the docstring; the
classes are torch.optim.Optimizers built on `MemoryOptimizer` (per-group `period`, exact
state_dict round trips). Which class a spec's `optimizer.kind` maps to: `SPEC_KINDS`.
"""

from nlc_runtime.optim.adam import AdamMemory, AdamWMemory
from nlc_runtime.optim.base import MemoryOptimizer
from nlc_runtime.optim.deep import DMGD, DeltaMomentum, PreconditionedMomentum
from nlc_runtime.optim.dgd import DGD
from nlc_runtime.optim.groups import split_matrix_params
from nlc_runtime.optim.muon import M3, Muon
from nlc_runtime.optim.newton_schulz import newton_schulz
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

__all__ = [
    "DGD",
    "DMGD",
    "M3",
    "SPEC_KINDS",
    "AdamMemory",
    "AdamWMemory",
    "DeltaMomentum",
    "MemoryOptimizer",
    "Muon",
    "PreconditionedMomentum",
    "SGDMemory",
    "newton_schulz",
    "split_matrix_params",
]
