"""The level graph as plain data, independent of how it is drawn.

A `Scene` is what every renderer (Graphviz DOT, the pure-Python SVG, Mermaid, HTML) draws:
horizontal bands (the per-token computation first, then one band per level, fastest first),
nodes in them, and typed edges. Repeated layers are folded here, once, so every renderer
shows the same folded picture: `layers.0.memory.M` and `layers.1.memory.M` become one node
`layers.{0..1}.memory.M` with a count of 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx

from nlc.errors import format_path
from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind, StateNode
from nlc.ir.period import Period
from nlc.report import fold_names, human

_INDEX = re.compile(r"\.(\d+)\.")
COMPUTE_BAND = "compute"

# Edge kinds of a scene: the IR's typed edges plus the covering pairs of ≻.
COVERING = "covering"
EDGE_KINDS = (COVERING, "dataflow", "reads", "updates", "initializes")


@dataclass(frozen=True)
class SceneNode:
    id: str  # safe for DOT, Mermaid and HTML ids
    key: str  # the name with its layer index replaced by '*': matches across specs
    label: str  # folded name, e.g. layers.{0..1}.memory.M_k
    band: str  # band id
    kind: str  # StateKind value, or the compute op
    is_state: bool
    members: tuple[str, ...]  # IR node names drawn by this node
    params: int  # numbers held (all members; a state's size, not a parameter count)
    info: dict = field(hash=False, compare=False)  # what hovering shows

    @property
    def count(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class SceneEdge:
    src: str
    dst: str
    kind: str  # one of EDGE_KINDS


@dataclass(frozen=True)
class Band:
    id: str
    title: str  # e.g. "level 2 · every 16 tokens"
    period: Period | None  # None for the computation band
    nodes: tuple[str, ...]  # node ids, in drawing order


@dataclass(frozen=True)
class Scene:
    name: str
    bands: tuple[Band, ...]
    nodes: dict[str, SceneNode]
    edges: tuple[SceneEdge, ...]
    folded: bool
    collapsed: bool

    def states(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.is_state]


def period_words(period: Period) -> str:
    if period.tokens is not None:
        return "every token" if period.tokens == 1 else f"every {period.tokens} tokens"
    if period.is_outer and period.steps > 1:
        return f"outer (once every {period.steps} optimizer steps)"
    return "outer (once per optimizer step)" if period.is_outer else "frozen (never)"


def band_title(number: int, period: Period) -> str:
    return f"level {number} · {period_words(period)}"


def _key(name: str) -> str:
    """The name with its first layer index replaced by '*' (the folding key)."""
    m = _INDEX.search(name)
    return name if m is None else name[: m.start()] + ".*." + name[m.end() :]


def _safe_id(prefix: str, key: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", key.replace("*", "X"))


def _shape_text(graph: Graph, state: str) -> str:
    tensors = (graph.tensors or {}).get(state, ())
    return ", ".join(f"{t}[{', '.join(map(str, s))}]" for t, s in tensors)


def _where(graph: Graph, loc: tuple) -> str:
    path = format_path(loc) or "(spec)"
    line = graph.source.line_of(loc) if graph.source is not None and loc else None
    return f"{graph.file}:{line}: {path}" if line else f"{graph.file}: {path}"


def _node_info(graph: Graph, members: list[str]) -> dict:
    first = graph.node(members[0])
    info: dict = {"name": fold_names(members)[0], "count": len(members)}
    if isinstance(first, StateNode):
        info["kind"] = first.kind.value
        info["period"] = str(first.period)
        info["spec"] = _where(graph, first.loc)
        info["shape"] = _shape_text(graph, first.name) or "-"
        params = sum(graph.param_count(m) for m in members)
        info["params"] = params
        info["params_text"] = human(params)
        if first.persist:
            info["persist"] = True
    else:
        assert isinstance(first, ComputeNode)
        info["kind"] = first.op
        info["period"] = "every token"
        info["spec"] = _where(graph, graph.component_locs.get(first.component, first.loc))
        width = (graph.widths or {}).get(first.name)
        info["shape"] = f"[tokens, {width}]" if width else "-"
        info["params"] = 0
        info["params_text"] = "0"
    if len(members) > 1:
        info["members"] = list(members)
    return info


def _sig(graph: Graph, name: str) -> tuple[str, str]:
    node = graph.node(name)
    if isinstance(node, StateNode):
        return (node.kind.value, str(node.period))
    return (node.op, "")


def _groups(graph: Graph, names: list[str], fold: bool) -> dict[str, list[str]]:
    """Folding groups in first-seen order. Members must also agree on kind and period
    (always true in the zoo), so a folded node never hides a difference."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if not fold:
            groups[name] = [name]
            continue
        key, sig = _key(name), _sig(graph, name)
        if key in groups and _sig(graph, groups[key][0]) != sig:
            key = f"{key}#{sig[0]}_{sig[1]}"
        groups.setdefault(key, []).append(name)
    return groups


def build_scene(graph: Graph, fold: bool = True, all_edges: bool = False) -> Scene:
    """Bands, folded nodes and typed edges of one graph (full or collapsed).

    Unless `all_edges`, the edges every model has and that only clutter the picture are
    left out: computes reading their own outer weights, and weights initializing memories."""
    if graph.levels is None or graph.order is None:
        raise ValueError("build_scene needs a graph with order and levels")
    nodes: dict[str, SceneNode] = {}
    owner: dict[str, str] = {}  # IR name -> scene node id

    def add_band_nodes(band: str, names: list[str], prefix: str) -> tuple[str, ...]:
        ids = []
        for key, members in _groups(graph, names, fold).items():
            nid = _safe_id(prefix, key)
            first = graph.node(members[0])
            is_state = isinstance(first, StateNode)
            label = fold_names(members)[0] if fold else members[0]
            nodes[nid] = SceneNode(
                id=nid,
                key=_key(members[0]),
                label=label,
                band=band,
                kind=first.kind.value if is_state else first.op,
                is_state=is_state,
                members=tuple(members),
                params=sum(graph.param_count(m) for m in members) if is_state else 0,
                info=_node_info(graph, members),
            )
            ids.append(nid)
            for m in members:
                owner[m] = nid
        return tuple(ids)

    flow = graph.dataflow()
    computes = list(nx.lexicographical_topological_sort(flow, key=_order_key(graph)))
    bands = [
        Band(
            COMPUTE_BAND,
            "computation · every token",
            None,
            add_band_nodes(COMPUTE_BAND, computes, "c_"),
        )
    ]
    for level in graph.levels:
        bid = f"L{level.number}"
        bands.append(
            Band(
                bid,
                band_title(level.number, level.period),
                level.period,
                add_band_nodes(bid, list(level.states), "s_"),
            )
        )

    edges: dict[tuple[str, str, str], None] = {}  # an ordered set
    for a, b in graph.order.covering:
        edges[(owner[a], owner[b], COVERING)] = None
    for u, v, kind, _ in graph.edges():
        if not all_edges and _obvious(graph, u, EdgeKind(kind)):
            continue
        if u in owner and v in owner:
            edges[(owner[u], owner[v], EdgeKind(kind).value)] = None
    scene_edges = tuple(
        SceneEdge(u, v, k)
        for u, v, k in edges
        # A folded dataflow self-loop (layers.* -> layers.*) says nothing; a folded
        # covering self-loop does (layer l ≻ layer l+1), so it stays.
        if u != v or k == COVERING
    )
    return Scene(graph.name, tuple(bands), nodes, scene_edges, fold, graph.collapsed)


def _obvious(graph: Graph, u: str, kind: EdgeKind) -> bool:
    if kind == EdgeKind.INITIALIZES:
        return True
    if kind == EdgeKind.READS:
        node = graph.node(u)
        return isinstance(node, StateNode) and not node.period.in_context
    return False


def _order_key(graph: Graph):
    index = {name: i for i, name in enumerate(graph.nx.nodes)}
    return lambda name: f"{index[name]:08d}"
