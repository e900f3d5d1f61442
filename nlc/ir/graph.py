"""The IR graph: a networkx multigraph of state and compute nodes, plus analysis results.

`Graph` is treated as immutable: a pass returns a new `Graph` (via `replace` or `with_nx`),
never mutating its input. Node payloads are frozen dataclasses from `nlc.ir.nodes`; edge keys
are `EdgeKind` values, so two nodes can be joined by edges of several kinds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from nlc.ir.nodes import ComputeNode, EdgeKind, Node, StateKind, StateNode
from nlc.ir.period import Period

if TYPE_CHECKING:
    from nlc.spec.common import ModelSettings
    from nlc.spec.source import SourceMap

TensorList = tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class Level:
    """One class of equal frequency; level 1 is the fastest."""

    number: int
    period: Period
    states: tuple[str, ...]


@dataclass(frozen=True)
class Order:
    """The partial order ≻ on states: `covering` are the pairs of its transitive reduction.

    Same-step reachability is kept as one bitset (a Python int) per node over `index`, a
    topological numbering of the dependency graph: compact and fast for large graphs."""

    covering: tuple[tuple[str, str], ...]
    index: Mapping[str, int] = field(repr=False)
    reach_bits: Mapping[str, int] = field(repr=False)

    def depends(self, a: str, b: str) -> bool:
        """True when computing b's state at time t needs a's state at time t."""
        if a not in self.reach_bits or b not in self.index:
            return False
        return bool((self.reach_bits[a] >> self.index[b]) & 1)


@dataclass(frozen=True)
class Graph:
    """IR of one spec. Analysis fields are None until the pass that computes them has run."""

    name: str
    file: str
    model: ModelSettings
    # the validated spec (`nlc.spec.schema.Spec`) and its components by dotted name (instances
    # of the kinds, `nlc.kinds`): both live above the IR, which carries them without reading
    # them, so they are typed `Any` here
    spec: Any
    nx: nx.MultiDiGraph = field(repr=False)
    components: Mapping[str, Any] = field(repr=False)
    component_locs: Mapping[str, tuple] = field(repr=False)
    source: SourceMap | None = field(default=None, repr=False)
    widths: Mapping[str, int | None] | None = None  # compute node -> output width (None: ids)
    tensors: Mapping[str, TensorList] | None = None  # state node -> its tensors
    order: Order | None = None
    levels: tuple[Level, ...] | None = None
    collapsed: bool = False
    passes: tuple[str, ...] = ()  # names of the passes applied, in order

    # --- construction -------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Graph:
        return dataclasses.replace(self, **changes)

    def copy_nx(self) -> nx.MultiDiGraph:
        return self.nx.copy()

    # --- queries ------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        return self.nx.nodes[name]["node"]

    def nodes(self) -> Iterator[Node]:
        for name in self.nx.nodes:
            yield self.nx.nodes[name]["node"]

    def states(self) -> list[StateNode]:
        return [n for n in self.nodes() if isinstance(n, StateNode)]

    def computes(self) -> list[ComputeNode]:
        return [n for n in self.nodes() if isinstance(n, ComputeNode)]

    def edges(self, kind: EdgeKind | None = None) -> list[tuple[str, str, EdgeKind, dict]]:
        out = []
        for u, v, key, data in self.nx.edges(keys=True, data=True):
            if kind is None or key == kind:
                out.append((u, v, key, data))
        return out

    def has_edge(self, u: str, v: str, kind: EdgeKind) -> bool:
        return self.nx.has_edge(u, v, key=kind)

    def dataflow(self) -> nx.DiGraph:
        """The compute-to-compute dataflow graph."""
        g = nx.DiGraph()
        g.add_nodes_from(c.name for c in self.computes())
        g.add_edges_from((u, v) for u, v, _, _ in self.edges(EdgeKind.DATAFLOW))
        return g

    def inputs_of(self, compute: str) -> list[str]:
        """Dataflow predecessors of a compute node, in the order they were declared."""
        preds = [
            (data.get("index", 0), u)
            for u, _, key, data in self.nx.in_edges(compute, keys=True, data=True)
            if key == EdgeKind.DATAFLOW
        ]
        return [u for _, u in sorted(preds)]

    def param_count(self, state: str) -> int:
        if self.tensors is None:
            raise ValueError("param_count needs infer_shapes to have run")
        total = 0
        for _, shape in self.tensors.get(state, ()):
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    def parameters(self) -> dict[str, tuple[int, ...]]:
        """The outer weights' tensors (every `weight` state's) by the key the emitted model's
        state_dict gives them, `<component>.<tensor>`, with their shapes. (A component whose
        spec name would shadow a Python or module name is an attribute with a trailing `_`
        there: `nlc.codegen.namespace`.)"""
        if self.tensors is None:
            raise ValueError("parameters needs infer_shapes to have run")
        return {
            f"{s.component}.{name}": shape
            for s in self.states()
            if s.kind == StateKind.WEIGHT
            for name, shape in self.tensors.get(s.name, ())
        }

    def level_of(self, state: str) -> Level:
        assert self.levels is not None
        for level in self.levels:
            if state in level.states:
                return level
        raise KeyError(state)

    def precedes(self, a: str, b: str) -> bool:
        """a ≻ b: a is faster than b, or as fast and b's state at time t needs a's."""
        if a == b:
            return False
        pa, pb = self.node(a).period, self.node(b).period  # type: ignore[union-attr]
        if pa.faster_than(pb):
            return True
        if pa == pb and self.order is not None:
            return self.order.depends(a, b)
        return False
