"""The reference interpreter: what a spec means, computed as plainly as possible (float64).

It walks the IR (the *full* graph of `run_front`, before collapse) instead of the emitted
forward code, one token at a time across the whole network (docs/design.md, "Reference
semantics"): the outer loop is the clock t = 1..T; at each t the token flows through every
compute in topological order of the dataflow graph, each reading the values of its declared
inputs at t (`Graph.inputs_of`). A component with state or memory of past tokens advances by
one token with its per-token step (`nlc.verify.steps`: memories and CMS levels read their
visible state and update exactly at chunk boundaries; KV caches append token t before
attention reads them; convolutions keep their last inputs); every other component maps its
input at t to its output at t with its call (`nlc.kinds.emission.Call`). So a signal that fed
back from a later component to an earlier one at a later token would be computed here exactly
as defined, whatever the emitted code does.

The LM signal of a CMS (`signal: lm`, `nlc_runtime.exec.lm_signal`) is defined here: at the end of
every LM piece (the gcd of its levels' periods, on the clock) the summed cross-entropy of the
piece's tokens is differentiated to the CMS's output at each of those tokens; the CMS then adds
its levels' gradients token by token, before the boundaries at that token fire.

The per-kind calling convention is shared with the code generator
(each kind's `emit`, `nlc.kinds`), and the weights are the emitted model's (built with
impl="naive"), so the emitted chunk-parallel code can be compared with it on equal weights
(`nlc.verify.differential`).
"""

from __future__ import annotations

import math

import networkx as nx

from nlc.codegen.namespace import attr_name
from nlc.ir.nodes import EdgeKind
from nlc.kinds.emission import Call
from nlc.pipeline import FrontResult
from nlc.verify.build import build_model


def module_of(model, component: str):
    """The emitted submodule of a dotted component name (`layers.1.attn`)."""
    obj = model
    for part in component.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, attr_name(part))
    return obj


def interpret(front: FrontResult, model, idx, targets=None):
    """Logits of `model`'s weights on token ids `idx` (B, T), computed by walking the IR one
    token at a time; `targets` (B, T): the next tokens, for LM-signal CMS blocks (without them
    they only read). `model` should be built with impl="naive" (see `reference_model`)."""
    import torch
    import torch.nn.functional as F

    from nlc.verify.steps import after_token, step_for

    graph = front.full
    flow = nx.DiGraph()
    for c in graph.computes():
        flow.add_node(c.name)
    for u, v, _, _ in graph.edges(EdgeKind.DATAFLOW):
        if u in flow and v in flow:
            flow.add_edge(u, v)
    plan = []  # (name, op, inputs, module, step, emission, tied) in topological order
    for name in nx.lexicographical_topological_sort(flow):
        node = graph.node(name)
        if node.op == "write":  # the cache write is part of the attention's step
            continue
        ins = graph.inputs_of(name)
        if node.op == "loss":
            plan.append((name, "loss", ins, None, None, None, None))
            continue
        comp = graph.components[node.component]
        d = graph.widths[ins[0]] if ins and graph.widths else graph.model.d_model
        tie = getattr(comp, "tie", None)
        em = comp.emit(d, graph.model, "tied" if tie else None)
        mod = module_of(model, node.component) if em.module is not None else None
        step = step_for(mod) if mod is not None else None
        if em.stateful and step is None:
            raise TypeError(f"{name}: no per-token step for {type(mod).__name__}")
        tied = module_of(model, tie) if tie else None
        plan.append((name, node.op, ins, mod, step, em, tied))
    lm = [(n, m) for n, _, _, m, _, em, _ in plan if em is not None and em.lm_signal]
    piece = math.gcd(*(p for _, m in lm for p in m.periods.values())) if lm else None
    T = idx.shape[1]
    carries: dict[str, dict] = {name: {} for name, *_ in plan}
    outs = []
    loss, taps = None, {n: [] for n, _ in lm}
    with torch.set_grad_enabled(torch.is_grad_enabled() or (targets is not None and bool(lm))):
        for t in range(T):  # the clock: every token flows through every component
            values: dict[str, torch.Tensor] = {}
            for name, op, ins, mod, step, em, tied in plan:
                xs = [values[u] for u in ins]
                if op == "loss":
                    outs.append(xs[0])
                elif step is not None:
                    values[name] = step(mod, xs, carries[name], t)
                else:  # output at t from inputs at t: the emitted call on one token
                    tokens = idx[:, t : t + 1] if op == "embedding" else None
                    values[name] = _call(em, mod, xs, tokens, tied)
            for n, _ in lm:  # the CMS's input and output at t, for its LM signal
                st = carries[n]["state"]
                x, y = st.pop("x"), st.pop("y")
                if targets is not None:
                    taps[n].append((x, y))
            if lm and targets is not None:
                tok = F.cross_entropy(outs[-1][:, 0], targets[:, t], ignore_index=-1,
                                      reduction="sum")  # fmt: skip
                loss = tok if loss is None else loss + tok
            if lm and ((t + 1) % piece == 0 or t + 1 == T) and loss is not None:
                ys = [y for n, _ in lm for _, y in taps[n]]
                grads = iter(torch.autograd.grad(loss, ys, retain_graph=True, allow_unused=True))
                for n, m in lm:
                    pairs = [(x, _zero_if_none(next(grads), y)) for x, y in taps[n]]
                    carries[n]["state"] = m.learn(carries[n]["state"], pairs)
                loss, taps = None, {n: [] for n, _ in lm}
            for name, _, _, mod, step, *_ in plan:
                if step is not None:
                    after_token(mod, carries[name], t)
    return torch.cat(outs, 1)


def _zero_if_none(g, like):
    import torch

    return torch.zeros_like(like) if g is None else g.detach()


def _call(em, mod, xs: list, token_ids, tied):
    """A stateless component's output at t: its call (`Call`) on one token; `token_ids`: the
    ids an embedding reads, `tied`: the embedding a tied head reads."""
    import torch.nn.functional as F

    if em.call is Call.SUM:
        return sum(xs[1:], xs[0])
    if em.call is Call.PASS:
        return xs[0]
    if em.call is Call.TIED:
        return F.linear(xs[0], tied.weight)
    return mod(token_ids) if token_ids is not None else mod(*xs[: em.inputs])


def reference_model(front: FrontResult, seed: int = 0):
    """The emitted model with every memory on its per-token path, in float64."""
    return build_model(front, impl="naive", seed=seed)


def run_reference(front: FrontResult, idx, seed: int = 0, targets=None):
    """Interpret a spec on `idx` with the deterministic weights of `seed`."""
    return interpret(front, reference_model(front, seed), idx, targets)
