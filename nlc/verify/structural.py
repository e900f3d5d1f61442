"""Structural check of a claim: collapse both graphs, canonicalise, test isomorphism.

Two specs are structurally the same model (docs/design.md, "Collapse") when their collapsed
graphs — after `freeze_static_memories`, which writes a memory that cannot learn in context as
the `frozen_memory` map it computes, and `expand_outer_cms`, which writes an all-outer CMS as
norm/mlp/add triples — are
isomorphic with node kinds, periods and edge types matched. Labels used by the matcher:
- a state: its kind, its period and the shapes of its tensors (weights and caches; the
  optimizer's moments are labelled by kind and period only, their size follows the weights);
- a parametric memory: its signature (`nlc.passes.canonical_memory`), not its kind name;
- another compute: its op and the settings of its component that change what it computes (all spec
  fields except name, inputs, weights, hidden width — shapes cover that — and learn_init);
- an edge: its kind, `fresh` for cache reads, and the input position (except into `add`).
On failure a readable difference is built from label counts: the states, computes, periods
and edges of one side with no counterpart on the other, each with the reason a leftover
in-context state did not collapse.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

import networkx as nx

from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind, StateKind, StateNode
from nlc.passes.canonical_memory import memory_signature
from nlc.passes.expand_outer_cms import expand_outer_cms
from nlc.passes.freeze_static_memories import freeze_static_memories
from nlc.pipeline import FrontResult
from nlc.spec.common import is_zero

_SETTINGS_IGNORED = {"name", "inputs", "weights", "hidden", "learn_init"}


@dataclass
class StructuralResult:
    holds: bool
    mapping: dict[str, str] = field(default_factory=dict)  # source node -> target node
    differences: list[str] = field(default_factory=list)
    source_periods: list[str | int] = field(default_factory=list)
    target_periods: list[str | int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "holds": self.holds,
            "differences": self.differences,
            "periods": {"source": self.source_periods, "target": self.target_periods},
            "correspondence": dict(sorted(self.mapping.items())),
        }


def canonical(front: FrontResult) -> Graph:
    """The graph a claim compares: collapsed, static memories written as the frozen maps they
    are, then all-outer CMS blocks expanded."""
    return expand_outer_cms(freeze_static_memories(front.collapsed))


def node_label(graph: Graph, name: str) -> tuple:
    node = graph.node(name)
    if isinstance(node, StateNode):
        shapes: tuple = ()
        if node.kind != StateKind.OPT_STATE and graph.tensors is not None:
            shapes = tuple(sorted(s for _, s in graph.tensors.get(name, ())))
        return ("state", node.kind.value, str(node.period), shapes)
    comp = graph.components.get(node.component)
    signature = memory_signature(comp) if comp is not None else None
    if signature is not None:  # one family, compared by what it computes (canonical_memory)
        return ("compute", "memory", repr(sorted(signature.items())))
    return ("compute", node.op, _settings(graph, node))


def _settings(graph: Graph, node: ComputeNode) -> str:
    comp = graph.components.get(node.component)
    if comp is None or node.op in ("write", "loss"):
        return ""
    dump = comp.model_dump(mode="json", exclude=_SETTINGS_IGNORED)
    return repr(sorted(dump.items()))


def _edge_labels(graph: Graph, v: str, data: dict) -> frozenset:
    """Labels of all edges between two nodes (a multigraph can hold several kinds)."""
    target = graph.node(v)
    commutative = isinstance(target, ComputeNode) and target.op == "add"
    out = set()
    for kind, attrs in data.items():
        index = 0 if commutative else attrs.get("index", 0)
        out.add(
            (
                str(kind.value if isinstance(kind, EdgeKind) else kind),
                attrs.get("fresh", False),
                index,
            )
        )
    return frozenset(out)


def _labelled(graph: Graph) -> nx.MultiDiGraph:
    g = nx.DiGraph()
    for name in graph.nx.nodes:
        g.add_node(name, label=node_label(graph, name))
    for u, v in set(graph.nx.edges()):
        g.add_edge(u, v, label=_edge_labels(graph, v, graph.nx.get_edge_data(u, v)))
    return g


def _periods(graph: Graph) -> list:
    periods = sorted({s.period for s in graph.states()})
    return [p.to_json() for p in periods]


def compare(source: FrontResult, target: FrontResult) -> StructuralResult:
    """Isomorphism of the canonical graphs, with a correspondence or a readable difference."""
    a, b = canonical(source), canonical(target)
    ga, gb = _labelled(a), _labelled(b)
    matcher = nx.algorithms.isomorphism.DiGraphMatcher(
        ga,
        gb,
        node_match=lambda x, y: x["label"] == y["label"],
        edge_match=lambda x, y: x["label"] == y["label"],
    )
    result = StructuralResult(False, source_periods=_periods(a), target_periods=_periods(b))
    if matcher.is_isomorphic():
        result.holds = True
        result.mapping = dict(matcher.mapping)
        return result
    result.differences = differences(source, a, ga, target, b, gb)
    return result


def _describe(label: tuple, settings: bool = False) -> str:
    if label[0] == "state":
        _, kind, period, shapes = label
        dims = " ".join("x".join(map(str, s)) for s in shapes)
        return f"{kind}(period {period}" + (f"; {dims})" if dims else ")")
    _, op, extra = label
    return f"{op}" + (f"{extra}" if settings and extra and extra != "[]" else "")


def _why_not_collapsed(front: FrontResult, graph: Graph, name: str) -> str:
    node = graph.node(name)
    if not isinstance(node, StateNode) or not node.period.in_context:
        return ""
    context = graph.model.context
    reasons = []
    if node.persist:
        reasons.append("it persists across sequences")
    if node.period.tokens < context:  # type: ignore[operator]
        reasons.append(f"its period {node.period} is shorter than the context {context}")
    comp = graph.components.get(node.component)
    update = getattr(comp, "update", None)
    if update is not None and is_zero(update.optimizer.lr):  # forgetting still decays it
        reasons.append("its learning rate is 0 but its retention decays it")
    elif update is not None and update.optimizer.retention is not None:
        reasons.append("its learning rate is not 0 and its retention is not null/0")
    else:
        reasons.append("its learning rate is not 0")
    where = ""
    if (
        comp is not None
        and getattr(comp, "kind", "") == "cms"
        and node.name.rsplit(".", 1)[-1].startswith("mlp")
    ):
        level = node.name.rsplit(".", 1)[-1][3:].split("_")[0]
        where = f" (CMS level {level} of {node.component})"
    return f"{where}: does not collapse, it changes in context ({'; '.join(reasons)})"


def differences(sfront: FrontResult, a: Graph, ga, tfront: FrontResult, b: Graph, gb) -> list[str]:
    """Readable lines: first the in-context states that did not collapse, then the periods,
    then node and edge labels whose counts differ (with the names on each side)."""
    out: list[str] = []
    la = Counter(d["label"] for _, d in ga.nodes(data=True))
    lb = Counter(d["label"] for _, d in gb.nodes(data=True))
    for this, g_this, have, want, front in ((a, ga, la, lb, sfront), (b, gb, lb, la, tfront)):
        for x, d in sorted(g_this.nodes(data=True)):
            if d["label"] in have - want:
                why = _why_not_collapsed(front, this, x)
                if why:
                    out.append(f"{this.name}: {x}{why}")
    pa, pb = _periods(a), _periods(b)
    if pa != pb:
        out.append(f"periods differ: {a.name} has {pa}, {b.name} has {pb}")
    settings_lines = _settings_differences(a, la, lb, b)
    out += settings_lines
    ops_a = Counter(lab[1] for lab in la.elements() if lab[0] == "compute")
    ops_b = Counter(lab[1] for lab in lb.elements() if lab[0] == "compute")
    for label in sorted(set(la) | set(lb), key=repr):
        if la[label] == lb[label]:
            continue
        # the op exists on both sides in equal numbers: the difference is in its settings
        detail = label[0] == "compute" and ops_a[label[1]] == ops_b[label[1]] and not settings_lines
        names_a = sorted(x for x, d in ga.nodes(data=True) if d["label"] == label)
        names_b = sorted(x for x, d in gb.nodes(data=True) if d["label"] == label)
        out.append(
            f"{_describe(label, detail)}: {la[label]} in {a.name}{_names(names_a)}, "
            f"{lb[label]} in {b.name}{_names(names_b)}"
        )
    ea, eb = _edge_counts(ga), _edge_counts(gb)
    edge_lines = []
    for key in sorted(set(ea) | set(eb), key=repr):
        if ea[key] != eb[key]:
            lu, lv, le = key
            kinds = "/".join(sorted(k for k, _, _ in le))
            edge_lines.append(
                f"edges {_describe(lu)} -{kinds}-> {_describe(lv)}: {ea[key]} in {a.name}, "
                f"{eb[key]} in {b.name}"
            )
    out += edge_lines[:12] + (
        [f"... and {len(edge_lines) - 12} more edge differences"] if len(edge_lines) > 12 else []
    )
    if not out:
        out.append(
            "same states, computes, periods and edge counts per kind, but wired differently "
            "(no one-to-one correspondence preserves every edge)"
        )
    return out


def _settings_differences(a: Graph, la: Counter, lb: Counter, b: Graph) -> list[str]:
    """For an op whose instances differ only in settings: the fields that differ."""
    only_a = [x for x in la if x[0] == "compute" and x not in lb]
    only_b = [x for x in lb if x[0] == "compute" and x not in la]
    out = []
    for x in only_a:
        for y in only_b:
            if x[1] != y[1] or not x[2] or not y[2]:
                continue
            sa, sb = dict(ast.literal_eval(x[2])), dict(ast.literal_eval(y[2]))
            fields = [
                f"{key}: {sa.get(key)!r} in {a.name}, {sb.get(key)!r} in {b.name}"
                for key in sorted(set(sa) | set(sb))
                if sa.get(key) != sb.get(key)
            ]
            out.append(f"{x[1]} computes differ in {'; '.join(fields)}")
    return out


def _names(names: list[str], limit: int = 6) -> str:
    if not names:
        return ""
    more = f", +{len(names) - limit} more" if len(names) > limit else ""
    return f" ({', '.join(names[:limit])}{more})"


def _edge_counts(g) -> Counter:
    return Counter(
        (g.nodes[u]["label"], g.nodes[v]["label"], d["label"]) for u, v, d in g.edges(data=True)
    )
