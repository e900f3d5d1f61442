"""Node and edge types of the IR: plain frozen data, one closed enum per family.

Analysis results (shapes, order, levels) live beside the nodes in `nlc.ir.graph.Graph`, never
inside them, so a node means the same thing before and after any pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from nlc.ir.period import Period


class StateKind(str, Enum):
    """What a state node holds. Every updated thing in a model is one of these."""

    WEIGHT = "weight"  # outer parameters of a component (projections, MLPs, initial states)
    MEMORY = "memory"  # parametric in-context memory (Titans M, self-modifying memories)
    MLP_LEVEL = "mlp_level"  # parameters of a CMS MLP block updated in context
    MOMENTUM = "momentum"  # momentum ("surprise") of an inner learning rule
    KV_CACHE = "kv_cache"  # non-parametric memory of attention: appends every token
    OPT_STATE = "opt_state"  # a state of the outer optimizer (momentum, second moment)


class EdgeKind(str, Enum):
    """Typed edges of the IR multigraph (the edge key in networkx)."""

    DATAFLOW = "dataflow"  # compute -> compute: activations flow
    READS = "reads"  # state -> compute: the compute reads the state's value
    UPDATES = "updates"  # compute -> state, or state -> state: source produces the update signal
    INITIALIZES = "initializes"  # weight -> in-context state: meta-learned initial value


class Signal(str, Enum):
    """Where the update of a state comes from."""

    INPUTS = "inputs"  # written from the component's inputs before it is read (KV cache)
    COMPONENT = "component"  # the component's own inner objective (associative loss)
    LOSS = "loss"  # the language-model loss gradient (outer optimizer, CMS 'lm' signal)
    NONE = "none"  # frozen: never updated


@dataclass(frozen=True)
class StateNode:
    """A state: anything that is updated, with its period."""

    name: str  # dotted path, e.g. 'layers.0.memory.M'
    kind: StateKind
    period: Period
    component: str  # dotted name of the component that owns it ('' for the optimizer)
    loc: tuple = ()  # spec field that sets its period (for error messages)
    persist: bool = False  # in-context state carried across sequences
    lr_zero: bool = False  # inner learning rate is the constant 0: never changes in context

    @property
    def is_state(self) -> bool:
        return True


@dataclass(frozen=True)
class ComputeNode:
    """A computation: one component's forward (or its cache write, or the loss)."""

    name: str
    op: str  # the component kind ('attention', 'cms', ...), 'write' or 'loss'
    component: str
    loc: tuple = ()

    @property
    def is_state(self) -> bool:
        return False


Node = StateNode | ComputeNode


@dataclass(frozen=True)
class StateDecl:
    """What a component kind declares about one of its states; `lower` turns it into nodes."""

    local: str  # name inside the component: 'W', 'kv', 'M', 'S', 'M_k', 'mlp0'
    kind: StateKind
    period: Period
    signal: Signal
    loc: tuple = ()  # relative to the component's own location in the spec
    persist: bool = False
    init: str | None = None  # local name of the weight state holding its initial value
    fresh: bool = False  # read after this step's write (KV cache), not before
    after: tuple[str, ...] = field(default=())  # local states whose new value its update uses
    lr_zero: bool = False
