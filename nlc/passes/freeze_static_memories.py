"""Rewrite rule `freeze_static_memories`: a Titans memory that cannot change in context is a
frozen feed-forward map, the `frozen_memory` kind.

After `collapse`, a `titans_memory` (or a `self_modifying_titans` with self-modification off:
the same residual memory) whose in-context states were all folded — inner lr 0 and no
forgetting, or a period of at least the context without persistence — reads its meta-learned
initial value M_0 at every token: y_t = out(M_0(q_t), x_t). Its keys, values and gates feed
only updates that never change an output, so what it computes is the static read path. The
rule says so in the graph: the compute becomes a `frozen_memory` with the same read path
(heads, depth, expansion, residual, conv) and its weight state holds only the read path's
tensors (wq, wo, conv_q, M.*). A claim like "Titans MAG with memory lr 0 is the MAG layout with
a static map in place of the memory" is then a plain isomorphism, and `nlc verify` maps the
memory's q rows onto the frozen map's (see `nlc.verify.numerical`).

Not rewritten: a memory with `learn_init: false` (it folds to the zero memory, another map),
or one with an in-context state left (it learns).

Requires: a collapsed graph with components (shapes optional). Ensures: every rewritten
compute has op `frozen_memory`; order and levels cleared.
"""

from __future__ import annotations

from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode
from nlc.kinds.frozen_memory import FrozenMemory
from nlc.passes.canonical_memory import memory_signature


def frozen_form(comp) -> FrozenMemory | None:
    """The `frozen_memory` a memory component reads as when it never learns, or None."""
    if not getattr(comp, "freezes", False) or not comp.learn_init:
        return None
    sig = memory_signature(comp)
    if sig is None:  # self-modification on: several memories, not one read path
        return None
    return FrozenMemory(
        name=comp.name,
        kind="frozen_memory",
        inputs=comp.inputs,
        weights=comp.weights,
        heads=comp.heads,
        depth=sig["depth"],
        expansion=sig["expansion"] or 1,
        residual=sig["residual"],
        conv=sig["conv"],
    )


def _static(graph: Graph, compute: ComputeNode) -> bool:
    return not any(s.component == compute.component and s.period.in_context for s in graph.states())


def freeze_static_memories(graph: Graph) -> Graph:
    """Rewrite every static single memory as a `frozen_memory` (see the module docstring)."""
    targets = []
    for c in graph.computes():
        form = frozen_form(graph.components.get(c.component))
        if form is not None and _static(graph, c):
            targets.append((c, form))
    if not targets:
        return graph
    g = graph.copy_nx()
    components = dict(graph.components)
    tensors = dict(graph.tensors) if graph.tensors is not None else None
    for c, form in targets:
        components[c.component] = form
        g.nodes[c.name]["node"] = ComputeNode(c.name, "frozen_memory", c.component, c.loc)
        weight = f"{c.component}.W"
        if tensors is not None and weight in tensors:
            d_in = graph.widths[graph.inputs_of(c.name)[0]] if graph.widths else None
            tensors[weight] = tuple(form.tensors(d_in or graph.model.d_model, graph.model)["W"])
    return graph.replace(
        nx=g,
        components=components,
        tensors=tensors,
        order=None,
        levels=None,
        passes=graph.passes + ("freeze_static_memories",),
    )
