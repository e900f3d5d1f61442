"""The level graph as one self-contained HTML page (no network): hover a node to see its
spec path, period, shape and parameter count; click a folded layer (×N) to unfold the
layers, click an unfolded one to fold them again.

The page carries both drawings (folded and unfolded) inline and a JSON table of node
details; a few lines of JavaScript switch between the drawings and highlight the nodes of
the layer clicked, so no layout has to run in the browser.
"""

from __future__ import annotations

import json
import re
from html import escape

from nlc.viz.scene import Scene

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
p.help { margin: 0 0 10px 0; color: #555; font-size: 13px; }
button { font-size: 13px; margin-bottom: 8px; }
.view { overflow: auto; border: 1px solid #dde; }
.view.hidden { display: none; }
.view svg { max-width: 100%; height: auto; }
g.node { cursor: pointer; }
g.node.hl polygon, g.node.hl path, g.node.hl rect:first-of-type {
  stroke: #d62728; stroke-width: 3px; }
#tip { position: fixed; display: none; pointer-events: none; background: #fffff0;
  border: 1px solid #888; padding: 6px 8px; font-size: 12px; max-width: 520px;
  box-shadow: 2px 2px 6px rgba(0,0,0,.2); white-space: pre-wrap; }
"""

_JS = """
(function () {
  var info = JSON.parse(document.getElementById('nlc-info').textContent);
  var tip = document.getElementById('tip');
  var views = {folded: document.getElementById('view-folded'),
               unfolded: document.getElementById('view-unfolded')};
  function show(name, keys, side) {
    for (var v in views) views[v].classList.toggle('hidden', v !== name);
    document.getElementById('mode').textContent = name;
    var nodes = views[name].querySelectorAll('g.node');
    for (var i = 0; i < nodes.length; i++) {
      var d = info[name][nodes[i].id];
      nodes[i].classList.toggle('hl', !!(keys && d && keys.indexOf(d.key) >= 0 &&
                                          d.side === side));
    }
  }
  function text(d) {
    var lines = [d.name + (d.count > 1 ? '   (\\u00d7' + d.count + ' layers)' : ''),
                 'kind: ' + d.kind, 'period: ' + d.period, 'spec: ' + d.spec,
                 'shape: ' + d.shape, 'numbers held: ' + d.params];
    if (d.members) lines.push('layers: ' + d.members.join(', '));
    lines.push(d.count > 1 ? 'click to unfold' : (d.folds ? 'click to fold' : ''));
    return lines.join('\\n');
  }
  ['folded', 'unfolded'].forEach(function (name) {
    var nodes = views[name].querySelectorAll('g.node');
    for (var i = 0; i < nodes.length; i++) {
      (function (g) {
        var d = info[name][g.id];
        if (!d) return;
        g.addEventListener('mousemove', function (ev) {
          tip.textContent = text(d); tip.style.display = 'block';
          tip.style.left = (ev.clientX + 14) + 'px'; tip.style.top = (ev.clientY + 14) + 'px';
        });
        g.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
        g.addEventListener('click', function () {
          if (name === 'folded' && d.count > 1) show('unfolded', [d.key], d.side);
          else if (name === 'unfolded' && d.folds) show('folded', [d.key], d.side);
        });
      })(nodes[i]);
    }
  });
  document.getElementById('toggle').addEventListener('click', function () {
    show(views.folded.classList.contains('hidden') ? 'folded' : 'unfolded', null);
  });
})();
"""


def _inline_svg(svg: str) -> str:
    """An SVG document's <svg> element, without the XML prolog, doctype and comments."""
    svg = svg[svg.index("<svg") :]
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S).strip()


def node_table(scenes: list[Scene]) -> dict:
    """Details of every node, keyed by its id in the drawing ('A_'/'B_' in a comparison)."""
    compare = len(scenes) > 1
    table = {}
    for side, scene in enumerate(scenes):
        pre = f"{'AB'[side]}_" if compare else ""
        for node in scene.nodes.values():
            row = dict(node.info, key=node.key, side=side)
            table[pre + node.id] = row
    return table


def to_html(folded: list[Scene], unfolded: list[Scene], svgs: tuple[str, str]) -> str:
    """The page; `svgs` are the (folded, unfolded) drawings as SVG documents."""
    unfolded_table = node_table(unfolded)
    folded_table = node_table(folded)
    # An unfolded node "folds" (on click) when its layer group has several members.
    counts: dict[tuple, int] = {}
    for d in unfolded_table.values():
        counts[(d["key"], d["side"])] = counts.get((d["key"], d["side"]), 0) + 1
    for d in unfolded_table.values():
        d["folds"] = counts[(d["key"], d["side"])] > 1
    info = {"folded": folded_table, "unfolded": unfolded_table}
    data = json.dumps(info, sort_keys=True, ensure_ascii=True).replace("</", "<\\/")
    title = " vs ".join(s.name for s in folded)
    flags = " (collapsed)" if folded[0].collapsed else ""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}: level graph</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{escape(title)}: level graph{flags}</h1>",
            '<p class="help">Bands are levels, fastest on top. Hover a node for its spec path, '
            "period, shape and parameter count; click a ×N node to unfold its layers, click an "
            "unfolded layer to fold them again.</p>",
            '<button id="toggle">fold / unfold all layers</button> '
            '<span>showing: <b id="mode">folded</b></span>',
            f'<div class="view" id="view-folded">{_inline_svg(svgs[0])}</div>',
            f'<div class="view hidden" id="view-unfolded">{_inline_svg(svgs[1])}</div>',
            '<div id="tip"></div>',
            f'<script type="application/json" id="nlc-info">{data}</script>',
            f"<script>{_JS}</script>",
            "</body></html>",
            "",
        ]
    )
