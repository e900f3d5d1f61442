"""Deterministic text form of the IR, for `nlc dump-ir`, debugging and snapshot tests.

The same graph always prints the same bytes: nodes in lowering order, edges sorted, no
addresses or absolute paths.
"""

from __future__ import annotations

from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind


def _shape(tensors) -> str:
    return ", ".join(f"{n}{list(s)}" for n, s in tensors)


def print_graph(graph: Graph) -> str:
    """Render a graph as text (see the module docstring)."""
    m = graph.model
    lines = [
        f"# nlc IR of '{graph.name}' after {' -> '.join(graph.passes)}",
        f"model vocab_size={m.vocab_size} d_model={m.d_model} n_heads={m.n_heads} "
        f"context={m.context} n_layers={m.n_layers}",
        "",
        "states:",
    ]
    level_of = {}
    for level in graph.levels or ():
        for s in level.states:
            level_of[s] = level.number
    for s in graph.states():
        parts = [f"  {s.name}", s.kind.value, f"period={s.period}"]
        if s.name in level_of:
            parts.append(f"level={level_of[s.name]}")
        if s.persist:
            parts.append("persist")
        if s.lr_zero:
            parts.append("lr=0")
        if graph.tensors is not None:
            parts.append(f"numel={graph.param_count(s.name)}")
            parts.append(_shape(graph.tensors[s.name]))
        lines.append(" ".join(parts))
    lines += ["", "computes:"]
    for c in graph.computes():
        ins = graph.inputs_of(c.name) or (["tokens"] if c.op == "embedding" else [])
        parts = [f"  {c.name}", c.op, "<- " + (", ".join(ins) if ins else "-")]
        if graph.widths is not None and graph.widths.get(c.name) is not None:
            parts.append(f"width={graph.widths[c.name]}")
        lines.append(" ".join(parts))
    lines += ["", "edges:"]
    position = {n: i for i, n in enumerate(graph.nx.nodes)}
    edges = sorted(graph.edges(), key=lambda e: (position[e[0]], position[e[1]], e[2].value))
    for u, v, kind, data in edges:
        if kind == EdgeKind.DATAFLOW and isinstance(graph.node(u), ComputeNode):
            continue  # shown as '<-' above
        tag = kind.value + ("(fresh)" if data.get("fresh") else "")
        lines.append(f"  {u} -{tag}-> {v}")
    if graph.order is not None:
        lines += ["", "order (covering pairs of ≻, faster first):"]
        lines += [f"  {a} ≻ {b}" for a, b in graph.order.covering]
    if graph.levels is not None:
        lines += ["", "levels (1 = fastest):"]
        for level in graph.levels:
            lines.append(f"  level {level.number} period={level.period}: {', '.join(level.states)}")
    return "\n".join(lines) + "\n"
