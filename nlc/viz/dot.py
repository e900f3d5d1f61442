"""Scenes to Graphviz DOT text, and DOT to SVG/PNG/PDF through the `dot` program.

Layout: one horizontal band per level (a cluster whose nodes share one rank, which needs
`newrank`), bands stacked by an invisible chain of row anchors, fastest level on top under
the per-token computation row. Only covering edges of ≻ and the compute → state `updates`
edges constrain the ranks (they point downwards); every other edge is drawn without moving
nodes, so the bands stay bands. Two scenes side by side share their rows by period.
"""

from __future__ import annotations

import shutil
import subprocess
from html import escape

from nlc.viz.scene import COMPUTE_BAND, COVERING, Scene, SceneNode, period_words
from nlc.viz.style import BAND_FILL, COMPUTE_BAND_FILL, EDGE_MEANING, EDGE_STYLE, fill_of

DOT_FORMATS = ("svg", "png", "pdf")


def have_dot() -> bool:
    return shutil.which("dot") is not None


def row_key(scene: Scene, band_id: str) -> str:
    """Rows shared across compared scenes: the computation row, then one row per period."""
    band = next(b for b in scene.bands if b.id == band_id)
    return COMPUTE_BAND if band.period is None else str(band.period)


def rows_of(scenes: list[Scene]) -> list[tuple[str, str]]:
    """(row key, row title) for the union of the scenes' bands, fastest first."""
    seen: dict[str, tuple] = {}
    for scene in scenes:
        for band in scene.bands:
            key = row_key(scene, band.id)
            sort = (-1, 0) if band.period is None else band.period.sort_key()
            title = "computation" if band.period is None else period_words(band.period)
            seen.setdefault(key, (sort, title))
    return [(k, t) for k, (_, t) in sorted(seen.items(), key=lambda kv: kv[1][0])]


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tooltip(node: SceneNode) -> str:
    i = node.info
    parts = [i["name"], f"period {i['period']}", i["spec"], f"shape {i['shape']}"]
    if node.is_state:
        parts.append(f"{i['params']} numbers")
    return " | ".join(parts)


def _label(node: SceneNode) -> str:
    badge = (
        f'<TD BGCOLOR="#333333"><FONT COLOR="#ffffff" POINT-SIZE="9"> ×{node.count} </FONT></TD>'
        if node.count > 1
        else ""
    )
    sub = node.info["params_text"] + " params" if node.is_state else node.kind
    span = 2 if badge else 1
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f"<TR><TD>{escape(node.label)}</TD>{badge}</TR>"
        f'<TR><TD COLSPAN="{span}"><FONT POINT-SIZE="8" COLOR="#555555">{escape(sub)}</FONT>'
        "</TD></TR></TABLE>>"
    )


def _legend() -> str:
    cells = "".join(
        f'<TD><FONT COLOR="{EDGE_STYLE[k][0]}">{"━━" if k == COVERING else "──"} '
        f"{escape(k if k != COVERING else '≻ covering')}</FONT></TD>"
        for k in EDGE_STYLE
    )
    return f'<<TABLE BORDER="0" CELLSPACING="6"><TR>{cells}</TR></TABLE>>'


def to_dot(scenes: list[Scene]) -> str:
    """DOT text for one scene, or for two side by side (`--compare`)."""
    compare = len(scenes) > 1
    title = " vs ".join(s.name for s in scenes)
    out = [
        f"digraph {_q(title)} {{",
        "  newrank=true; rankdir=TB; nodesep=0.25; ranksep=0.55; compound=true;",
        '  fontname="Helvetica"; labelloc=b; label=' + _legend() + ";",
        '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", '
        'margin="0.08,0.03", height=0.3];',
        '  edge [fontname="Helvetica", fontsize=8, arrowsize=0.6];',
    ]
    rows = rows_of(scenes)
    # Row anchors: labels on the left in a comparison, invisible otherwise.
    for i, (_, text) in enumerate(rows):
        style = 'shape=plaintext, style="", fontsize=11' if compare else "style=invis, width=0"
        out.append(f"  row{i} [label={_q(text if compare else '')}, {style}];")
    for i in range(len(rows) - 1):
        out.append(f"  row{i} -> row{i + 1} [style=invis, weight=100];")
    members: dict[str, list[str]] = {k: [f"row{i}"] for i, (k, _) in enumerate(rows)}
    for side, scene in enumerate(scenes):
        pre = f"{'AB'[side]}_" if compare else ""
        if compare:
            out.append(f"  subgraph cluster_side{side} {{")
            out.append(f'    label={_q(scene.name)}; fontsize=14; style="dashed"; color="#999999";')
        for b, band in enumerate(scene.bands):
            fill = COMPUTE_BAND_FILL if band.period is None else BAND_FILL[b % 2]
            out.append(f"    subgraph cluster_{pre}{band.id} {{")
            out.append(
                f"      label={_q(band.title)}; labeljust=l; fontsize=10; style=filled; "
                f'fillcolor="{fill}"; color="#c8d0dc"; id={_q(pre + "band_" + band.id)};'
            )
            for nid in band.nodes:
                node = scene.nodes[nid]
                fill_c = fill_of(node.kind, node.is_state)
                extra = "" if node.is_state else ', style="filled", fontsize=9, color="#777777"'
                out.append(
                    f"      {pre}{nid} [id={_q(pre + nid)}, label={_label(node)}, "
                    f'fillcolor="{fill_c}", tooltip={_q(tooltip(node))}{extra}];'
                )
                members[row_key(scene, band.id)].append(pre + nid)
            out.append("    }")
        if compare:
            out.append("  }")
        # Within a row dot orders nodes along flat edges; keep the band's own order (a
        # folded layer loop res2 -> norm1 would otherwise flip the computation row) by
        # laying such edges out reversed and drawing them with dir=back.
        pos = {
            nid: (b, i) for b, band in enumerate(scene.bands) for i, nid in enumerate(band.nodes)
        }
        comp = scene.bands[0].nodes
        for a, b in zip(comp, comp[1:]):
            out.append(f"  {pre}{a} -> {pre}{b} [style=invis, weight=10];")
        for e in scene.edges:
            colour, _, style, width = EDGE_STYLE[e.kind]
            constraint = e.kind in (COVERING, "updates")
            attrs = f'color="{colour}", style={style}, penwidth={width}'
            if not constraint:
                attrs += ", constraint=false"
            if e.kind == COVERING:
                attrs += ', arrowhead=normal, tooltip="≻"'
            src, dst = e.src, e.dst
            if pos[src][0] == pos[dst][0] and pos[src][1] > pos[dst][1]:
                src, dst = dst, src
                attrs += ", dir=back"
            out.append(f"  {pre}{src} -> {pre}{dst} [{attrs}];")
    for key, _ in rows:
        out.append("  { rank=same; " + "; ".join(members[key]) + "; }")
    if compare:
        out.extend(_correspondences(scenes))
    out.append("}")
    return "\n".join(out) + "\n"


def correspondences(scenes: list[Scene]) -> list[tuple[str, str]]:
    """Pairs (left id, right id) of nodes that play the same role in both specs (same name
    with the layer index left out, e.g. layers.*.norm1.W)."""
    right = {n.key: n.id for n in scenes[1].nodes.values()}
    return [(n.id, right[n.key]) for n in scenes[0].nodes.values() if n.key in right]


def _correspondences(scenes: list[Scene]) -> list[str]:
    return [
        f'  A_{a} -> B_{b} [style=dotted, color="#bbbbbb", dir=none, constraint=false, '
        f'tooltip="same role"];'
        for a, b in correspondences(scenes)
        # Links between computes would reorder the computation rows; states are enough.
        if scenes[0].nodes[a].is_state
    ]


def render_dot(text: str, fmt: str) -> bytes:
    """Run Graphviz; raises RuntimeError with its message when it fails."""
    if fmt not in DOT_FORMATS:
        raise ValueError(fmt)
    proc = subprocess.run(
        ["dot", f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


__all__ = ["DOT_FORMATS", "EDGE_MEANING", "have_dot", "render_dot", "rows_of", "to_dot"]
