"""Outer optimizers as associative memories (NL arXiv §4; M3: §7.2, Eq. 75).

`rules` holds one pure per-tensor function per rule, its inner objective in the docstring; the
classes are torch.optim.Optimizers built on `MemoryOptimizer` (per-group `period`, exact
state_dict round trips); `build_optimizer(model, **spec's optimizer section)` builds the one
a spec names (`SPEC_KINDS`: kind -> class).
"""

from nlc_runtime.optim.adam import AdamMemory, AdamWMemory
from nlc_runtime.optim.base import MemoryOptimizer
from nlc_runtime.optim.build import SPEC_KINDS, build_optimizer
from nlc_runtime.optim.deep import DMGD, DeltaMomentum, PreconditionedMomentum
from nlc_runtime.optim.dgd import DGD
from nlc_runtime.optim.groups import split_matrix_params
from nlc_runtime.optim.muon import M3, Muon
from nlc_runtime.optim.newton_schulz import newton_schulz
from nlc_runtime.optim.sgd import SGDMemory

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
    "build_optimizer",
    "newton_schulz",
    "split_matrix_params",
]
