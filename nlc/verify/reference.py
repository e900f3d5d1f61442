"""The reference interpreter: what a spec means, computed as plainly as possible (float64).

It walks the IR (the *full* graph of `run_front`, before collapse) instead of the emitted
forward code: the computes in topological order of the dataflow graph, each reading the values
of its declared inputs (`Graph.inputs_of`). Every component with state runs on its naive
per-token path of the runtime (`impl="naive"`: memories and CMS levels read and update one
token at a time, updating exactly at chunk boundaries and flushing the last partial chunk;
attention computes one query at a time over the keys written so far) — DESIGN.md §1's
definition, written out once per kind in `nlc_runtime`.

Decision (documented in README): the interpreter goes component by component over the whole
sequence, not token by token across the whole network. For the emitted signals this computes
the same numbers: a component's state depends only on its own inputs at earlier tokens (the
CMS `lm` signal, the one feedback from later components, is not emitted), so evaluating layer
l for all tokens before layer l+1 is a reordering of independent work. What the interpreter
checks is therefore (a) the emitted forward wiring against the IR's dataflow and (b) the
chunk-parallel runtime paths against the per-token ones; the per-kind calling convention is
shared with the code generator (`nlc.codegen.kinds.emit_component`), and the weights are the
emitted model's (so both can be compared on equal weights).
"""

from __future__ import annotations

import networkx as nx

from nlc.codegen.kinds import emit_component
from nlc.codegen.namespace import attr_name
from nlc.ir.nodes import EdgeKind
from nlc.pipeline import FrontResult
from nlc.verify.build import build_model


def module_of(model, component: str):
    """The emitted submodule of a dotted component name (`layers.1.attn`)."""
    obj = model
    for part in component.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, attr_name(part))
    return obj


def interpret(front: FrontResult, model, idx):
    """Logits of `model`'s weights on token ids `idx` (B, T), computed by walking the IR.
    `model` should be built with impl="naive" (see `reference_model`)."""
    import torch
    import torch.nn.functional as F

    graph = front.full
    flow = nx.DiGraph()
    for c in graph.computes():
        flow.add_node(c.name)
    for u, v, _, _ in graph.edges(EdgeKind.DATAFLOW):
        if u in flow and v in flow:
            flow.add_edge(u, v)
    values: dict[str, torch.Tensor] = {}
    out = None
    for name in nx.lexicographical_topological_sort(flow):
        node = graph.node(name)
        if node.op == "write":  # the cache write is part of the attention module's step
            continue
        ins = graph.inputs_of(name)
        if node.op == "loss":
            out = values[ins[0]]
            continue
        comp = graph.components[node.component]
        d = graph.widths[ins[0]] if ins and graph.widths else graph.model.d_model
        tie = getattr(comp, "tie", None)
        em = emit_component(comp, d, graph.model, "tied" if tie else None)
        env = {"F": F, "torch": torch, "tied": None}
        if tie:
            env["self"] = type("Tie", (), {"tied": module_of(model, tie)})()
        args = {"in0": "idx"} if node.op == "embedding" else {}
        for j, u in enumerate(ins):
            env[f"x{j}"] = values[u]
            args[f"in{j}"] = f"x{j}"
        args["sum"] = " + ".join(f"x{j}" for j in range(len(ins)))
        args["mod"] = "m"
        args["state"] = "None"
        env["idx"] = idx
        if em.ctor is not None:
            env["m"] = module_of(model, node.component)
        result = eval(em.call.format(**args), env)  # noqa: S307 - our own call template
        values[name] = result[0] if em.stateful else result
    return out


def reference_model(front: FrontResult, seed: int = 0):
    """The emitted model with every memory on its per-token path, in float64."""
    return build_model(front, impl="naive", seed=seed)


def run_reference(front: FrontResult, idx, seed: int = 0):
    """Interpret a spec on `idx` with the deterministic weights of `seed`."""
    return interpret(front, reference_model(front, seed), idx)
