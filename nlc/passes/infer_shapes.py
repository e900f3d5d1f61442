"""Pass `infer_shapes`: widths of every activation and the tensors of every state.

Requires: a lowered graph (dataflow acyclic).
Ensures: `graph.widths` maps every compute node to its output width (None for the loss), a
`Dim` that keeps how it derives from the model settings (`4 * d_model`: code generation writes
it from `Config`); `graph.tensors` maps every state node to its tensors (name, shape in plain
ints, at the spec's settings); widths, head counts and the loss's vocabulary agree, or a
SpecError names the component's field.
"""

from __future__ import annotations

import networkx as nx

from nlc.errors import Diagnostic, SpecError, format_path
from nlc.ir.dim import symbolic
from nlc.ir.graph import Graph
from nlc.ir.nodes import EdgeKind, StateKind
from nlc.kinds.base import ShapeProblem


def _error(graph: Graph, loc: tuple, message: str) -> SpecError:
    line = graph.source.line_of(loc) if graph.source else None
    return SpecError(Diagnostic(graph.file, line, format_path(loc), message))


def infer_shapes(graph: Graph) -> Graph:
    """Compute widths and state tensors (see the module docstring)."""
    model = symbolic(graph.model)
    widths: dict[str, int | None] = {}  # Dim values
    tensors: dict[str, tuple] = {}
    flow = graph.dataflow()
    for name in nx.topological_sort(flow):  # deterministic: follows insertion order
        node = graph.node(name)
        ins = [widths[i] for i in graph.inputs_of(name)]
        if node.op == "loss":
            if ins[0] != model.vocab_size:
                raise _error(
                    graph,
                    graph.component_locs[graph.inputs_of(name)[0]],
                    f"the model's last component must produce logits of width vocab_size="
                    f"{model.vocab_size}, got width {ins[0]} (end the model with an lm_head)",
                )
            widths[name] = None
            continue
        if node.op == "write":
            widths[name] = ins[0] if ins else None
            continue
        comp = graph.components[node.component]
        loc = graph.component_locs[node.component]
        try:
            width = comp.out_width(ins, model) if ins else comp.out_width([], model)
            d_in = ins[0] if ins else model.d_model
            for local, tlist in comp.tensors(d_in, model).items():
                state = f"{name}.{local}"
                if state in graph.nx:
                    tensors[state] = tuple((n, tuple(map(int, s))) for n, s in tlist)
        except ShapeProblem as problem:
            raise _error(graph, loc + problem.loc, problem.message) from None
        widths[name] = width
    for state in graph.states():
        if state.kind == StateKind.OPT_STATE:
            # one number per element of the weights it moves
            tensors[state.name] = (("per_weight", (_moved_numel(graph, state.name, tensors),)),)
        elif state.name not in tensors:
            raise _error(graph, state.loc, f"internal: no tensors declared for state {state.name}")
    return graph.replace(widths=widths, tensors=tensors, passes=graph.passes + ("infer_shapes",))


def _moved_numel(graph: Graph, opt_state: str, tensors: dict) -> int:
    """Elements of the outer weights an optimizer memory moves, directly or through the
    memories it feeds (preconditioned momentum's v moves the weights through the momentum)."""
    moved: set[str] = set()
    stack, seen = [opt_state], {opt_state}
    while stack:
        for _, v, kind in graph.nx.out_edges(stack.pop(), keys=True):
            node = graph.node(v)
            if kind != EdgeKind.UPDATES or not node.is_state or v in seen:
                continue
            seen.add(v)
            if node.kind == StateKind.WEIGHT and node.period.is_outer:
                moved.add(v)
            elif node.kind == StateKind.OPT_STATE:
                stack.append(v)
    total = 0
    for name in sorted(moved):
        for _, shape in tensors.get(name, ()):
            n = 1
            for d in shape:
                n *= d
            total += n
    return total
