"""Pass `build_order`: the Nested Learning partial order ≻ on states (docs/design.md).

A ≻ B iff f_A > f_B, or f_A = f_B and computing B's state at time t needs A's state at time t.
"Needs at time t" follows the same-step dependency graph: a state read *after* its write in
the same step (a KV cache, `reads` edges with fresh=True), dataflow between computes, and
`updates` edges (compute -> state, and state -> state when one state's new value enters
another's update, e.g. momentum -> weights). A parametric memory read before its write
(o_t = M_{t-1}(q_t)) creates no same-step dependency.

Requires: `infer_shapes` has run (the dataflow is acyclic).
Ensures: `graph.order` holds the same-step reachability between states and the covering
pairs of ≻ (its transitive reduction), computed with bitsets so 10,000 components stay fast.
"""

from __future__ import annotations

import networkx as nx

from nlc.ir.graph import Graph, Order
from nlc.ir.nodes import EdgeKind, StateNode
from nlc.ir.period import Period


def dependency_graph(graph: Graph) -> nx.DiGraph:
    """Same-step dependency graph over all nodes (see the module docstring)."""
    dep = nx.DiGraph()
    dep.add_nodes_from(graph.nx.nodes)
    for u, v, kind, data in graph.edges():
        if kind in (EdgeKind.DATAFLOW, EdgeKind.UPDATES) or (
            kind == EdgeKind.READS and data.get("fresh")
        ):
            dep.add_edge(u, v)
    return dep


def _bits(mask: int):
    """Indices of set bits, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def build_order(graph: Graph) -> Graph:
    """Compute ≻ (see the module docstring)."""
    dep = dependency_graph(graph)
    if not nx.is_directed_acyclic_graph(dep):
        cycle = nx.find_cycle(dep)
        raise ValueError(f"internal: same-step dependency cycle {cycle}")
    topo = list(nx.topological_sort(dep))  # deterministic: follows insertion order
    index = {n: i for i, n in enumerate(topo)}
    is_state = {n: isinstance(graph.node(n), StateNode) for n in topo}
    reach: dict[str, int] = {}
    for n in reversed(topo):
        acc = 0
        for s in dep.successors(n):
            acc |= reach[s]
            if is_state[s]:
                acc |= 1 << index[s]
        reach[n] = acc

    states = [s for s in graph.states()]
    by_period: dict[Period, list[str]] = {}
    for s in states:
        by_period.setdefault(s.period, []).append(s.name)
    periods = sorted(by_period, key=Period.sort_key)
    masks = {p: sum(1 << index[n] for n in by_period[p]) for p in periods}
    name_at = {index[n]: n for n in topo}

    covering: list[tuple[str, str]] = []
    has_pred: set[str] = set()
    sinks: dict[Period, list[str]] = {}
    for p in periods:
        for a in by_period[p]:
            candidates = reach[a] & masks[p]
            if not candidates:
                sinks.setdefault(p, []).append(a)
                continue
            covered = 0
            for i in _bits(candidates):  # topological order: a covering b comes first
                if not (covered >> i) & 1:
                    b = name_at[i]
                    covering.append((a, b))
                    has_pred.add(b)
                    covered |= reach[b]
                if not (candidates & ~covered & ~((1 << (i + 1)) - 1)):
                    break
    for faster, slower in zip(periods, periods[1:]):
        sources = [b for b in by_period[slower] if b not in has_pred]
        for a in sinks.get(faster, []):
            for b in sources:
                covering.append((a, b))

    order = Order(
        covering=tuple(covering),  # generated in a deterministic order: by level, then source
        index=index,
        reach_bits=reach,
    )
    return graph.replace(order=order, passes=graph.passes + ("build_order",))
