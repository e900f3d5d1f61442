"""Pass `infer_shapes`: widths of every activation and the tensors of every state.

Requires: a lowered graph (dataflow acyclic).
Ensures: `graph.widths` maps every compute node to its output width (None for the loss);
`graph.tensors` maps every state node to its tensors (name, shape); widths, head counts and
the loss's vocabulary agree, or a SpecError names the component's field.
"""

from __future__ import annotations

import networkx as nx

from nlc.errors import Diagnostic, SpecError, format_path
from nlc.ir.graph import Graph
from nlc.ir.nodes import StateKind
from nlc.spec.kinds import ShapeProblem


def _error(graph: Graph, loc: tuple, message: str) -> SpecError:
    line = graph.source.line_of(loc) if graph.source else None
    return SpecError(Diagnostic(graph.file, line, format_path(loc), message))


def infer_shapes(graph: Graph) -> Graph:
    """Compute widths and state tensors (see the module docstring)."""
    model = graph.model
    widths: dict[str, int | None] = {}
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
                    tensors[state] = tuple(tlist)
        except ShapeProblem as problem:
            raise _error(graph, loc + problem.loc, problem.message) from None
        widths[name] = width
    for state in graph.states():
        if state.kind == StateKind.OPT_STATE:
            # one moment per trained weight element
            tensors[state.name] = (("per_weight", (_trained_numel(graph, tensors),)),)
        elif state.name not in tensors:
            raise _error(graph, state.loc, f"internal: no tensors declared for state {state.name}")
    return graph.replace(widths=widths, tensors=tensors, passes=graph.passes + ("infer_shapes",))


def _trained_numel(graph: Graph, tensors: dict) -> int:
    total = 0
    for s in graph.states():
        if s.kind == StateKind.WEIGHT and s.period.is_outer:
            for _, shape in tensors.get(s.name, ()):
                n = 1
                for d in shape:
                    n *= d
                total += n
    return total
