"""Pass `collapse`: rewrite rules that lose nothing (docs/design.md, "Collapse").

1. Fold: an in-context state that never changes within a sequence — its period is at least the
   context length and it does not persist, or its inner learning rate is the constant 0 —
   always equals its initial value. With a meta-learned initial value it merges into the outer
   weight that holds that value (readers now read the weight); without one it is a constant
   (zero memory, empty cache) and disappears.
2. Dead code: computes whose results reach nothing (e.g. the writer of a removed cache) go.
3. Identity components vanish: their inputs are wired straight to their consumers.
Levels of equal period then merge by themselves when `assign_levels` runs again.

Requires: a lowered graph (shapes optional: tensors of removed states are dropped).
Ensures: no in-context state that cannot change in context; no identity or dead computes;
`graph.collapsed` is True; order and levels cleared (run build_order/assign_levels again).
"""

from __future__ import annotations

from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind, StateNode


def never_changes_in_context(state: StateNode, context: int) -> bool:
    """True when a state keeps its initial value through every sequence."""
    if not state.period.in_context:
        return False
    return state.lr_zero or (not state.persist and state.period.tokens >= context)  # type: ignore[operator]


def collapse(graph: Graph) -> Graph:
    """Apply the collapse rules (see the module docstring)."""
    g = graph.copy_nx()
    context = graph.model.context
    # 1. fold states that never change in context
    for name in list(g.nodes):
        node = g.nodes[name]["node"]
        if not isinstance(node, StateNode) or not never_changes_in_context(node, context):
            continue
        inits = [u for u, _, k in g.in_edges(name, keys=True) if k == EdgeKind.INITIALIZES]
        if inits:
            for _, reader, k in list(g.out_edges(name, keys=True)):
                if k == EdgeKind.READS and not g.has_edge(inits[0], reader, key=EdgeKind.READS):
                    g.add_edge(inits[0], reader, key=EdgeKind.READS, fresh=False)
        g.remove_node(name)
    # 2. dead computes (nothing downstream), until none is left
    changed = True
    while changed:
        changed = False
        for name in list(g.nodes):
            node = g.nodes[name]["node"]
            if isinstance(node, ComputeNode) and node.op != "loss" and g.out_degree(name) == 0:
                g.remove_node(name)
                changed = True
    # 3. identity components vanish
    for name in list(g.nodes):
        node = g.nodes[name]["node"]
        if isinstance(node, ComputeNode) and node.op == "identity":
            preds = [u for u, _, k in g.in_edges(name, keys=True) if k == EdgeKind.DATAFLOW]
            for _, succ, k, data in list(g.out_edges(name, keys=True, data=True)):
                if k == EdgeKind.DATAFLOW:
                    for p in preds:
                        g.add_edge(p, succ, key=EdgeKind.DATAFLOW, **data)
            g.remove_node(name)
    tensors = None
    if graph.tensors is not None:
        tensors = {k: v for k, v in graph.tensors.items() if k in g}
    widths = None
    if graph.widths is not None:
        widths = {k: v for k, v in graph.widths.items() if k in g}
    return graph.replace(
        nx=g,
        tensors=tensors,
        widths=widths,
        order=None,
        levels=None,
        collapsed=True,
        passes=graph.passes + ("collapse",),
    )
