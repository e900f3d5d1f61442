"""Lowering of the spec's outer `optimizer` (part of pass `lower`): its memories become state
nodes of kind `opt_state` (NL §4: an optimizer is an associative memory of gradients).

Memories per kind (`MEMORIES`): each is written from the loss gradient (`loss -> memory`); a
memory whose write uses another memory's new value gets an `updates` edge from it (so it comes
after it in ≻: preconditioned momentum's `v ≻ momentum`, DMGD's `momentum_net ≻ momentum`);
the memories no other memory reads move the weights (`memory -> weight`), so they are faster
than the weights at equal frequency (momentum ≻ weights), and Adam's `m` and `v` have no path
between them (=_f). Without memories (SGD without momentum, DGD) the loss moves the weights.

Periods: `outer` for the memories of the default group; a group with `period: k` gets its own
copies `optimizer.groups.<i>.<memory>` of period `outer*k`, and its weights period `outer*k`.
M3's slow momentum has period `outer*(f·k)`: its own, slower level.

Muon and M3 orthogonalise hidden weight matrices only; embeddings, output heads and norms are
moved by an AdamW pair `adamw.m`, `adamw.v`. The IR decides by component kind (`ADAMW_KINDS`);
vectors inside other components (biases, gates) are AdamW's too at run time, which the graph
does not draw (a weight node stands for all of a component's outer tensors).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, replace

import networkx as nx

from nlc.ir.nodes import EdgeKind, StateKind, StateNode
from nlc.ir.period import Period
from nlc.spec.source import SourceMap

LOSS = "loss"
ADAMW_KINDS = frozenset({"embedding", "lm_head", "norm"})
MATRIX_KINDS = frozenset({"muon", "m3"})


@dataclass(frozen=True)
class Memory:
    local: str  # name under `optimizer.` (or `optimizer.groups.<i>.`)
    every: int = 1  # period in units of the group's period
    after: tuple[str, ...] = ()  # memories whose new value this one's write uses


def memories(opt) -> list[Memory]:
    """The memories of the rule that moves hidden weights (see the module docstring)."""
    kind = opt.kind
    if kind == "sgd":
        return [Memory("momentum")] if opt.momentum > 0 else []
    if kind in ("adam", "adamw"):
        return [Memory("m"), Memory("v")]
    if kind in ("muon", "delta_momentum"):
        return [Memory("momentum")]
    if kind == "dmgd":
        return [Memory("momentum_net"), Memory("momentum", after=("momentum_net",))]
    if kind == "preconditioned_momentum":
        return [Memory("v"), Memory("momentum", after=("v",))]
    if kind == "m3":
        return [Memory("fast"), Memory("v"), Memory("slow", every=opt.slow_period)]
    if kind == "dgd":
        return []
    raise ValueError(f"internal: no memories for optimizer kind {kind!r}")


ADAMW_FALLBACK = [Memory("adamw.m"), Memory("adamw.v")]


def _group_of(opt, components: dict, weights: list[StateNode], src: SourceMap) -> dict[str, int]:
    """component name -> index of the group that matches it (absent: the default group)."""
    trained = sorted({w.component for w in weights})
    owner: dict[str, int] = {}
    for i, group in enumerate(opt.groups):
        loc = ("optimizer", "groups", i, "match")
        hits = [c for c in trained if fnmatch.fnmatchcase(c, group.match)]
        if not hits:
            # suggest patterns with the layer index as '*': layers.*.attn
            known = sorted({re.sub(r"\.\d+(?=\.|$)", ".*", c) for c in trained})
            close = difflib.get_close_matches(group.match, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise src.error(
                loc,
                f"'{group.match}' matches no component with trained weights{hint}; "
                f"components with trained weights: {shown or '(none)'}",
            )
        for c in hits:
            if c in owner:
                raise src.error(
                    loc,
                    f"'{group.match}' matches '{c}', already in groups[{owner[c]}]; "
                    "a component belongs to one group at most",
                )
            owner[c] = i
    return owner


def lower_optimizer(g: nx.MultiDiGraph, opt, components: dict, src: SourceMap) -> None:
    """Add the optimizer's memories to the graph `g` (see the module docstring)."""
    loc = ("optimizer",)
    weights = [
        s
        for s in (g.nodes[n]["node"] for n in g.nodes)
        if isinstance(s, StateNode) and s.kind == StateKind.WEIGHT and s.period.is_outer
    ]
    owner = _group_of(opt, components, weights, src)
    fallback = opt.kind in MATRIX_KINDS
    # (group index or None, fallback?) -> weights moved by that set of memories
    moved: dict[tuple[int | None, bool], list[str]] = {}
    for w in weights:
        group = owner.get(w.component)
        if group is not None:
            period = Period.outer(opt.groups[group].period)
            g.nodes[w.name]["node"] = replace(w, period=period)
        uses_adamw = fallback and components[w.component].kind in ADAMW_KINDS
        moved.setdefault((group, uses_adamw), []).append(w.name)
    for (group, uses_adamw), names in sorted(moved.items(), key=lambda kv: _order(kv[0])):
        prefix = "optimizer." if group is None else f"optimizer.groups.{group}."
        steps = 1 if group is None else opt.groups[group].period
        mems = ADAMW_FALLBACK if uses_adamw else memories(opt)
        read = {m.local for m in mems} - {a for m in mems for a in m.after}
        for m in mems:
            sname = prefix + m.local
            if sname not in g:
                period = Period.outer(steps * m.every)
                node = StateNode(sname, StateKind.OPT_STATE, period, "optimizer", loc)
                g.add_node(sname, node=node)
                g.add_edge(LOSS, sname, key=EdgeKind.UPDATES)
                for before in m.after:
                    g.add_edge(prefix + before, sname, key=EdgeKind.UPDATES)
        for w in names:
            for src_name in [prefix + m.local for m in mems if m.local in read] or [LOSS]:
                g.add_edge(src_name, w, key=EdgeKind.UPDATES)


def _order(key: tuple[int | None, bool]) -> tuple[int, int]:
    """Default group first, then groups in spec order; the matrix rule before AdamW."""
    group, uses_adamw = key
    return (-1 if group is None else group, int(uses_adamw))
