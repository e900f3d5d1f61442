"""Rewrite rule `expand_outer_cms`: a CMS none of whose levels changes in context is the
Transformer's pre-norm MLP sublayer, once per level.

A CMS level is the residual sublayer h + MLP_l(RMSNorm_l(h)) (`nlc.kinds.cms`). When
no level of a CMS keeps an in-context state after `collapse` (every level has period `outer`,
or was folded because it cannot change within a sequence), the CMS is exactly a chain of
`norm -> mlp -> add` triples, one per level, each with its own outer weights. Writing it that
way lets two specs be compared node for node: `hope-attention` with a one-level outer CMS and a
Transformer then have isomorphic graphs. The rule is a correspondence at component level made
explicit in the graph, chosen over a special case in the isomorphism test because the graph
then *shows* the equivalence (and `dump` / drawings of it read like a Transformer).

New nodes are named `<cms>.level<i>.norm`, `<cms>.level<i>.mlp`, `<cms>.level<i>.add` (states:
`<cms>.level<i>.norm.W`, `<cms>.level<i>.mlp.W`); `nlc.verify` parses these names to map the
CMS's parameters (norms.<i>, W1.<i>, W2.<i>) onto the Transformer's.

Not expanded: the `independent` variant (one shared norm and a learned weighted sum: not a
chain of sublayers) and any CMS with a level still in context. A folded in-context level with
`learn_init: false` starts (and stays) at zero, so its MLP outputs 0 and the level vanishes.
The local-objective targets W_v of outer levels are unused by the forward pass and dropped.

Requires: a collapsed graph with components (shapes optional). Ensures: no CMS compute without
in-context levels remains (except `independent`); order and levels cleared.
"""

from __future__ import annotations

from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind, StateKind, StateNode
from nlc.ir.period import Period
from nlc.kinds.add import Add
from nlc.kinds.mlp import MLP
from nlc.kinds.norm import Norm

_IN_CONTEXT_KINDS = (StateKind.MLP_LEVEL, StateKind.MOMENTUM)


def expandable(graph: Graph, compute: str) -> bool:
    """True when the CMS compute `compute` has no in-context level left."""
    node = graph.node(compute)
    if not isinstance(node, ComputeNode) or node.op != "cms":
        return False
    comp = graph.components[node.component]
    if comp.variant == "independent":
        return False
    return not any(
        s.component == node.component and s.kind in _IN_CONTEXT_KINDS for s in graph.states()
    )


def expand_outer_cms(graph: Graph) -> Graph:
    """Expand every expandable CMS into norm/mlp/add triples (see the module docstring)."""
    cms_nodes = [c.name for c in graph.computes() if expandable(graph, c.name)]
    if not cms_nodes:
        return graph
    g = graph.copy_nx()
    components = dict(graph.components)
    tensors = dict(graph.tensors) if graph.tensors is not None else None
    widths = dict(graph.widths) if graph.widths is not None else None
    for name in cms_nodes:
        _expand_one(graph, g, name, components, tensors, widths)
    return graph.replace(
        nx=g,
        components=components,
        tensors=tensors,
        widths=widths,
        order=None,
        levels=None,
        passes=graph.passes + ("expand_outer_cms",),
    )


def _expand_one(graph: Graph, g, name: str, components, tensors, widths) -> None:
    node = graph.node(name)
    comp = components[node.component]
    d = int(graph.widths[name]) if graph.widths else graph.model.d_model  # shapes: ints
    owned = [s for s in graph.states() if s.component == node.component]
    # weights read by the CMS, the optimizer states that move them, and its input edge
    optimizers = sorted(
        {u for s in owned for u, _, k in g.in_edges(s.name, keys=True) if k == EdgeKind.UPDATES}
    )
    preds = [
        (u, data)
        for u, _, k, data in g.in_edges(name, keys=True, data=True)
        if k == EdgeKind.DATAFLOW
    ]
    succs = [
        (v, data)
        for _, v, k, data in g.out_edges(name, keys=True, data=True)
        if k == EdgeKind.DATAFLOW
    ]
    shared = next((s for s in owned if s.name == f"{node.component}.W"), None)
    current = [u for u, _ in preds]
    for i, level in enumerate(comp.levels):
        period = Period.of(level.period)
        if period.in_context:  # folded: its value is the initial value held in `W`
            if not comp.learn_init:
                continue
            holder = shared
        else:
            holder = next(s for s in owned if s.name == f"{node.component}.mlp{i}")
        weight_period = holder.period if holder is not None else Period.of("outer")
        hidden = int(level.hidden_width(d))
        base = f"{name}.level{i}"
        parts = {
            "norm": (Norm(name=f"level{i}_norm", kind="norm"), [("weight", (d,))]),
            "mlp": (
                MLP(name=f"level{i}_mlp", kind="mlp", hidden=hidden, activation=comp.activation),
                [("up.weight", (hidden, d)), ("down.weight", (d, hidden))],
            ),
        }
        for role, (spec, shapes) in parts.items():
            cname = f"{base}.{role}"
            components[cname] = spec
            g.add_node(cname, node=ComputeNode(cname, role, cname, node.loc))
            w = StateNode(
                f"{cname}.W", StateKind.WEIGHT, weight_period, cname, holder.loc if holder else ()
            )
            g.add_node(w.name, node=w)
            g.add_edge(w.name, cname, key=EdgeKind.READS, fresh=False)
            for opt in optimizers:
                g.add_edge(opt, w.name, key=EdgeKind.UPDATES)
            if tensors is not None:
                tensors[w.name] = tuple(shapes)
            if widths is not None:
                widths[cname] = d
        components[f"{base}.add"] = Add(name=f"level{i}_add", kind="add", inputs=["in", "mlp"])
        g.add_node(f"{base}.add", node=ComputeNode(f"{base}.add", "add", f"{base}.add", node.loc))
        if widths is not None:
            widths[f"{base}.add"] = d
        for u in current:
            g.add_edge(u, f"{base}.norm", key=EdgeKind.DATAFLOW, index=0)
            g.add_edge(u, f"{base}.add", key=EdgeKind.DATAFLOW, index=0)
        g.add_edge(f"{base}.norm", f"{base}.mlp", key=EdgeKind.DATAFLOW, index=0)
        g.add_edge(f"{base}.mlp", f"{base}.add", key=EdgeKind.DATAFLOW, index=1)
        current = [f"{base}.add"]
    for v, data in succs:
        for u in current:
            g.add_edge(u, v, key=EdgeKind.DATAFLOW, **data)
    g.remove_node(name)
    for s in owned:
        g.remove_node(s.name)
        if tensors is not None:
            tensors.pop(s.name, None)
    if widths is not None:
        widths.pop(name, None)
