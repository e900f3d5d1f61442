"""The level graph as Mermaid flowchart text, to paste into Markdown.

Mermaid cannot pin nodes to rows, so each band is a subgraph and the bands are chained by
invisible links (`~~~`) in frequency order, which Mermaid's layout follows top to bottom.
"""

from __future__ import annotations

from nlc.viz.scene import COVERING, Scene, SceneNode
from nlc.viz.style import STATE_FILL

# Arrow per edge kind: ≻ thick, dataflow plain, the rest dotted with a word.
ARROWS = {
    COVERING: "==>|≻|",
    "dataflow": "-->",
    "reads": "-.->",
    "updates": "-.->|update|",
    "initializes": "-.->|init|",
}


def _text(text: str) -> str:
    # Mermaid strings cannot hold a double quote; its entity form renders one.
    return text.replace('"', "#quot;")


def _label(node: SceneNode) -> str:
    badge = f" ×{node.count}" if node.count > 1 else ""
    sub = f"{node.info['params_text']} params" if node.is_state else node.kind
    return _text(f"{node.label}{badge}<br/><small>{sub}</small>")


def to_mermaid(scenes: list[Scene]) -> str:
    compare = len(scenes) > 1
    out = ["flowchart TB"]
    for kind, fill in STATE_FILL.items():
        out.append(f"  classDef {kind} fill:{fill},stroke:#333333")
    out.append("  classDef compute fill:#ffffff,stroke:#777777")
    for side, scene in enumerate(scenes):
        pre = f"{'AB'[side]}_" if compare else ""
        indent = "  "
        if compare:
            out.append(f'  subgraph {pre}spec["{_text(scene.name)}"]')
            indent = "    "
        for band in scene.bands:
            out.append(f'{indent}subgraph {pre}band_{band.id}["{_text(band.title)}"]')
            for nid in band.nodes:
                node = scene.nodes[nid]
                shape = ('("', '")') if node.is_state else ('["', '"]')
                out.append(f"{indent}  {pre}{nid}{shape[0]}{_label(node)}{shape[1]}")
            out.append(f"{indent}end")
        if compare:
            out.append("  end")
        ids = [f"{pre}band_{b.id}" for b in scene.bands]
        for a, b in zip(ids, ids[1:]):
            out.append(f"  {a} ~~~ {b}")
        for e in scene.edges:
            out.append(f"  {pre}{e.src} {ARROWS[e.kind]} {pre}{e.dst}")
        by_class: dict[str, list[str]] = {}
        for node in scene.nodes.values():
            cls = node.kind if node.is_state else "compute"
            by_class.setdefault(cls, []).append(pre + node.id)
        for cls, members in by_class.items():
            out.append(f"  class {','.join(members)} {cls}")
    return "\n".join(out) + "\n"
