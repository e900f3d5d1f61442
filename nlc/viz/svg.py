"""The level graph as SVG without Graphviz: a simple band layout written by hand.

Used when `dot` is absent (and by the HTML page in that case). Each row is one period
(the computation row first), nodes of a band sit side by side in the row (wrapping when the
band is long), edges are curves. Less tidy than Graphviz, but it names the same levels
and states and its output is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from nlc.viz.dot import correspondences, row_key, rows_of, tooltip
from nlc.viz.scene import COVERING, Scene, SceneNode
from nlc.viz.style import BAND_FILL, COMPUTE_BAND_FILL, EDGE_STYLE, fill_of

CHAR_W = 6.6  # average glyph width of 11px Helvetica
NODE_H = 34
GAP_X = 16
ROW_PAD = 26  # room for the band title above a row's nodes
LINE_GAP = 14
MAX_PER_LINE = 10
LEFT = 150  # the row titles column
SIDE_GAP = 60


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


def _width(node: SceneNode) -> float:
    badge = 30 if node.count > 1 else 0
    return max(70.0, CHAR_W * len(node.label) + 16 + badge)


def layout(scenes: list[Scene]) -> tuple[dict[str, Box], dict[tuple[int, str], Box], float, float]:
    """Node boxes (keyed 'A_id'/'B_id' in a comparison, 'id' otherwise), band boxes keyed
    (side, band id), and the total width and height."""
    compare = len(scenes) > 1
    rows = rows_of(scenes)
    boxes: dict[str, Box] = {}
    bands: dict[tuple[int, str], Box] = {}
    # Widths first: each side is as wide as its widest line of nodes.
    side_w = []
    for scene in scenes:
        widest = 200.0
        for band in scene.bands:
            for i in range(0, len(band.nodes), MAX_PER_LINE):
                line = band.nodes[i : i + MAX_PER_LINE]
                widest = max(widest, sum(_width(scene.nodes[n]) + GAP_X for n in line) + GAP_X)
        side_w.append(widest)
    y = 20.0
    for key, _ in rows:
        lines = 1
        for scene in scenes:
            for band in scene.bands:
                if row_key(scene, band.id) == key:
                    lines = max(lines, -(-len(band.nodes) // MAX_PER_LINE))
        row_h = ROW_PAD + lines * (NODE_H + LINE_GAP)
        x0 = LEFT if compare else 20.0
        for side, scene in enumerate(scenes):
            pre = f"{'AB'[side]}_" if compare else ""
            for band in scene.bands:
                if row_key(scene, band.id) != key:
                    continue
                bands[(side, band.id)] = Box(x0, y, side_w[side], row_h - 6)
                for i, nid in enumerate(band.nodes):
                    line, _ = divmod(i, MAX_PER_LINE)
                    if i % MAX_PER_LINE == 0:
                        x = x0 + GAP_X
                    w = _width(scene.nodes[nid])
                    boxes[pre + nid] = Box(x, y + ROW_PAD + line * (NODE_H + LINE_GAP), w, NODE_H)
                    x += w + GAP_X
            x0 += side_w[side] + SIDE_GAP
        y += row_h
    width = (LEFT if compare else 20.0) + sum(side_w) + SIDE_GAP * (len(scenes) - 1) + 20
    return boxes, bands, width, y + 50


def _path(a: Box, b: Box) -> str:
    if a is b:  # a folded covering loop: layer l ≻ layer l+1
        x, y = a.x + a.w, a.y + a.h / 2
        return (
            f"M{x:.1f},{y - 6:.1f} C{x + 30:.1f},{y - 22:.1f} "
            f"{x + 30:.1f},{y + 22:.1f} {x:.1f},{y + 6:.1f}"
        )
    if abs(a.y - b.y) < 1:  # same line: arc above
        lift = 18 + abs(a.cx - b.cx) * 0.08
        return (
            f"M{a.cx:.1f},{a.y:.1f} C{a.cx:.1f},{a.y - lift:.1f} "
            f"{b.cx:.1f},{b.y - lift:.1f} {b.cx:.1f},{b.y:.1f}"
        )
    down = b.y > a.y
    y1 = a.y + a.h if down else a.y
    y2 = b.y if down else b.y + b.h
    mid = (y1 + y2) / 2
    return f"M{a.cx:.1f},{y1:.1f} C{a.cx:.1f},{mid:.1f} {b.cx:.1f},{mid:.1f} {b.cx:.1f},{y2:.1f}"


def _node_svg(pre: str, node: SceneNode, box: Box) -> list[str]:
    fill = fill_of(node.kind, node.is_state)
    rx = 8 if node.is_state else 2
    sub = node.info["params_text"] + " params" if node.is_state else node.kind
    out = [
        f'<g class="node" id="{pre}{node.id}"><title>{escape(tooltip(node))}</title>',
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h}" rx="{rx}" '
        f'fill="{fill}" stroke="#333333"/>',
        f'<text x="{box.x + 8:.1f}" y="{box.y + 14:.1f}" font-size="11">'
        f"{escape(node.label)}</text>",
        f'<text x="{box.x + 8:.1f}" y="{box.y + 27:.1f}" font-size="9" fill="#555555">'
        f"{escape(sub)}</text>",
    ]
    if node.count > 1:
        bx = box.x + box.w - 28
        out.append(
            f'<rect x="{bx:.1f}" y="{box.y + 4:.1f}" width="24" height="13" rx="2" fill="#333333"/>'
            f'<text x="{bx + 12:.1f}" y="{box.y + 14:.1f}" font-size="9" fill="#ffffff" '
            f'text-anchor="middle">×{node.count}</text>'
        )
    out.append("</g>")
    return out


def to_svg(scenes: list[Scene]) -> str:
    """A standalone SVG document of one scene or two side by side."""
    compare = len(scenes) > 1
    boxes, bands, width, height = layout(scenes)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(' vs '.join(s.name for s in scenes))}: level graph</title>",
        "<defs>",
    ]
    for kind, (colour, _, _, _) in EDGE_STYLE.items():
        out.append(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>')
    for (side, bid), box in bands.items():
        scene = scenes[side]
        band = next(b for b in scene.bands if b.id == bid)
        fill = COMPUTE_BAND_FILL if band.period is None else BAND_FILL[len(band.id) % 2]
        pre = f"{'AB'[side]}_" if compare else ""
        out.append(
            f'<g class="band" id="{pre}band_{bid}"><rect x="{box.x:.1f}" y="{box.y:.1f}" '
            f'width="{box.w:.1f}" height="{box.h:.1f}" fill="{fill}" stroke="#c8d0dc"/>'
            f'<text x="{box.x + 6:.1f}" y="{box.y + 15:.1f}" font-size="11">'
            f"{escape(band.title)}</text></g>"
        )
    if compare:
        rows = rows_of(scenes)
        ys = {}
        for (side, bid), box in bands.items():
            ys.setdefault(row_key(scenes[side], bid), box.y)
        for key, title in rows:
            out.append(f'<text x="10" y="{ys[key] + 30:.1f}" font-size="12">{escape(title)}</text>')
        for side, scene in enumerate(scenes):
            out.append(
                f'<text x="{bands[(side, scene.bands[0].id)].x:.1f}" y="14" font-size="14" '
                f'font-weight="bold">{escape(scene.name)}</text>'
            )
        for a, b in correspondences(scenes):
            ba, bb = boxes["A_" + a], boxes["B_" + b]
            out.append(
                f'<path class="edge edge-corresponds" d="M{ba.x + ba.w:.1f},{ba.y + ba.h / 2:.1f} '
                f'L{bb.x:.1f},{bb.y + bb.h / 2:.1f}" stroke="#cccccc" stroke-dasharray="1,3" '
                'fill="none"/>'
            )
    for side, scene in enumerate(scenes):
        pre = f"{'AB'[side]}_" if compare else ""
        for e in scene.edges:
            colour, dash, _, w = EDGE_STYLE[e.kind]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            d = _path(boxes[pre + e.src], boxes[pre + e.dst])
            out.append(
                f'<path class="edge edge-{e.kind}" d="{d}" '
                f'stroke="{colour}" stroke-width="{w}"{dash_attr} fill="none" '
                f'marker-end="url(#arrow-{e.kind})"><title>{escape(e.src)} {e.kind} '
                f"{escape(e.dst)}</title></path>"
            )
        for band in scene.bands:
            for nid in band.nodes:
                out.extend(_node_svg(pre, scene.nodes[nid], boxes[pre + nid]))
    x = 20.0
    for kind, (colour, dash, _, w) in EDGE_STYLE.items():
        name = "≻ covering" if kind == COVERING else kind
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x:.1f}" y1="{height - 20:.1f}" x2="{x + 24:.1f}" y2="{height - 20:.1f}" '
            f'stroke="{colour}" stroke-width="{w}"{dash_attr}/><text x="{x + 28:.1f}" '
            f'y="{height - 16:.1f}" font-size="11" fill="{colour}">{escape(name)}</text>'
        )
        x += 40 + CHAR_W * len(name)
    out.append("</svg>")
    return "\n".join(out) + "\n"
