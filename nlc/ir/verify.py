"""The IR verifier: invariants every graph satisfies after every pass.

`verify(graph, after=PASS)` raises `IRError` naming the pass that broke an invariant, the node
and the spec field it came from. The pipeline runs it after each pass in tests and with
`--verify`; it is cheap (linear in the graph) except for the acyclicity checks.
"""

from __future__ import annotations

import networkx as nx

from nlc.errors import format_path
from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind, StateKind, StateNode


class IRError(Exception):
    """An IR invariant does not hold: a compiler bug, not a user error."""


def _fail(graph: Graph, after: str, node_name: str | None, message: str) -> IRError:
    where = ""
    if node_name is not None and node_name in graph.nx:
        node = graph.node(node_name)
        line = graph.source.line_of(node.loc) if graph.source and node.loc else None
        where = f" at node '{node_name}' (spec {graph.file}:{line}: {format_path(node.loc)})"
    return IRError(f"IR invariant broken after pass '{after}'{where}: {message}")


_ALLOWED = {
    EdgeKind.DATAFLOW: {(False, False)},
    EdgeKind.READS: {(True, False)},
    EdgeKind.UPDATES: {(False, True), (True, True)},
    EdgeKind.INITIALIZES: {(True, True)},
}


def verify(graph: Graph, after: str = "?") -> None:
    """Check the IR invariants (see the module docstring)."""
    g = graph.nx
    for name in g.nodes:
        node = g.nodes[name].get("node")
        if not isinstance(node, (StateNode, ComputeNode)) or node.name != name:
            raise _fail(graph, after, name, "node payload missing or misnamed")
    for u, v, key in g.edges(keys=True):
        if not isinstance(key, EdgeKind):
            raise _fail(graph, after, u, f"edge {u} -> {v} has no EdgeKind key")
        shape = (graph.node(u).is_state, graph.node(v).is_state)
        if shape not in _ALLOWED[key]:
            raise _fail(graph, after, u, f"a {key.value} edge cannot join {u} -> {v}")
        if u == v:
            raise _fail(graph, after, u, "self-loop")
    if not nx.is_directed_acyclic_graph(graph.dataflow()):
        raise _fail(graph, after, None, "dataflow has a cycle")
    for s in graph.states():
        ins = {k for _, _, k in g.in_edges(s.name, keys=True)}
        if s.period.is_frozen and EdgeKind.UPDATES in ins:
            raise _fail(graph, after, s.name, "a frozen state is updated")
        if not s.period.is_frozen and EdgeKind.UPDATES not in ins:
            raise _fail(graph, after, s.name, f"state of period {s.period} has no update")
        if g.out_degree(s.name) == 0:
            raise _fail(graph, after, s.name, "state is neither read nor used by an update")
        if EdgeKind.INITIALIZES in ins and not s.period.in_context:
            raise _fail(graph, after, s.name, "only in-context states take an initial value")
        if s.kind == StateKind.KV_CACHE and s.period.tokens != 1:
            raise _fail(graph, after, s.name, "a KV cache changes every token")
    if graph.tensors is not None:
        for s in graph.states():
            if s.name not in graph.tensors:
                raise _fail(graph, after, s.name, "no tensors inferred")
    if graph.levels is not None:
        seen: dict[str, int] = {}
        for prev, level in zip(graph.levels, graph.levels[1:]):
            if not prev.period.faster_than(level.period):
                raise _fail(
                    graph, after, None, f"levels {prev.number} and {level.number} out of order"
                )
        for level in graph.levels:
            for name in level.states:
                if name in seen:
                    raise _fail(graph, after, name, "state in two levels")
                if graph.node(name).period != level.period:
                    raise _fail(graph, after, name, "state's period differs from its level's")
                seen[name] = level.number
        if len(seen) != len(graph.states()):
            raise _fail(graph, after, None, "some states have no level")
    if graph.order is not None:
        for a, b in graph.order.covering:
            if a == b or not graph.precedes(a, b):
                raise _fail(graph, after, a, f"covering pair ({a}, {b}) is not in ≻")
