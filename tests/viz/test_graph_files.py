"""The level graph as SVG (Graphviz and pure Python), PNG, DOT, Mermaid; determinism."""

from __future__ import annotations

import re
import shutil

import pytest

from nlc.report import fold_names
from nlc.viz.dot import correspondences, to_dot
from nlc.viz.mermaid import to_mermaid
from nlc.viz.render import graph_bytes, write_levels_svg
from nlc.viz.scene import band_title, build_scene
from tests.viz.helpers import front, png_stats, svg_texts

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")


@pytest.fixture(params=["graphviz", "pure-python"])
def svg_backend(request, monkeypatch):
    if request.param == "graphviz":
        if shutil.which("dot") is None:
            pytest.skip("Graphviz `dot` not installed")
        monkeypatch.delenv("NLC_VIZ_NO_DOT", raising=False)
    else:
        monkeypatch.setenv("NLC_VIZ_NO_DOT", "1")
    return request.param


@pytest.mark.parametrize("spec", ["hope", "transformer"])
def test_svg_names_every_level_and_state(spec, svg_backend):
    graph = front(spec).full
    text = svg_texts(graph_bytes([graph], "svg"))
    for lv in graph.levels:
        assert band_title(lv.number, lv.period) in text
    names = fold_names([s.name for s in graph.states()])
    for name in names:
        assert name in text.split("\n"), name
    unfolded = svg_texts(graph_bytes([graph], "svg", fold=False)).split("\n")
    for state in graph.states():
        assert state.name in unfolded


def test_svg_is_deterministic(svg_backend):
    graph = front("hope").full
    assert graph_bytes([graph], "svg") == graph_bytes([graph], "svg")


@pytest.mark.parametrize("fmt", ["dot", "mmd", "html"])
def test_text_formats_are_deterministic(fmt):
    graph = front("titans-lmm").full
    assert graph_bytes([graph], fmt) == graph_bytes([graph], fmt)


def test_collapsed_differs_where_collapse_folds_states():
    result = front("titans-lmm")
    full, col = build_scene(result.full), build_scene(result.collapsed)
    assert col.collapsed and not full.collapsed
    assert len(col.bands) == len(result.collapsed.levels) + 1


@needs_dot
def test_png_is_an_image_with_ink(tmp_path, monkeypatch):
    monkeypatch.delenv("NLC_VIZ_NO_DOT", raising=False)
    out = tmp_path / "g.png"
    out.write_bytes(graph_bytes([front("hope").full], "png"))
    (w, h), inked, colours = png_stats(out)
    assert w > 600 and h > 200
    assert inked > 0.02 and colours > 20


@needs_dot
def test_pdf_starts_like_a_pdf(monkeypatch):
    monkeypatch.delenv("NLC_VIZ_NO_DOT", raising=False)
    assert graph_bytes([front("transformer").full], "pdf").startswith(b"%PDF")


def test_png_without_dot_is_a_clear_error(monkeypatch):
    from nlc.viz.render import RenderError

    monkeypatch.setenv("NLC_VIZ_NO_DOT", "1")
    with pytest.raises(RenderError, match="Graphviz"):
        graph_bytes([front("hope").full], "png")


# --- Mermaid: a strict line grammar for the subset nlc writes --------------------------------
_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_STR = r'"[^"]*"'
_MERMAID = {
    "header": re.compile(r"^flowchart TB$"),
    "classdef": re.compile(rf"^\s*classDef {_ID} fill:#[0-9a-f]{{6}},stroke:#[0-9a-f]{{6}}$"),
    "subgraph": re.compile(rf"^\s*subgraph {_ID}\[{_STR}\]$"),
    "end": re.compile(r"^\s*end$"),
    "node": re.compile(rf"^\s*({_ID})(\({_STR}\)|\[{_STR}\])$"),
    "edge": re.compile(rf"^\s*({_ID}) (-->|==>\|≻\||-\.->|-\.->\|update\||-\.->\|init\|) ({_ID})$"),
    "invisible": re.compile(rf"^\s*({_ID}) ~~~ ({_ID})$"),
    "class": re.compile(rf"^\s*class {_ID}(,{_ID})* {_ID}$"),
}


def parse_mermaid(text: str) -> dict:
    counts = dict.fromkeys(_MERMAID, 0)
    nodes: set[str] = set()
    edge_ends: set[str] = set()
    depth = 0
    for line in text.splitlines():
        kind = next((k for k, rx in _MERMAID.items() if rx.match(line)), None)
        assert kind is not None, f"not Mermaid: {line!r}"
        counts[kind] += 1
        m = _MERMAID[kind].match(line)
        if kind == "node":
            assert m.group(1) not in nodes, f"node declared twice: {line}"
            nodes.add(m.group(1))
        elif kind == "edge":
            edge_ends.update((m.group(1), m.group(3)))
        depth += {"subgraph": 1, "end": -1}.get(kind, 0)
        assert depth >= 0
    assert depth == 0 and counts["header"] == 1
    assert edge_ends <= nodes, edge_ends - nodes
    return counts


@pytest.mark.parametrize("spec", ["hope", "transformer"])
def test_mermaid_parses_with_every_node_and_edge(spec):
    scene = build_scene(front(spec).full)
    counts = parse_mermaid(to_mermaid([scene]))
    assert counts["node"] == len(scene.nodes)
    assert counts["edge"] == len(scene.edges)
    assert counts["subgraph"] == len(scene.bands)
    assert counts["invisible"] == len(scene.bands) - 1


def test_compare_aligns_corresponding_nodes():
    a, b = build_scene(front("transformer").full), build_scene(front("hope").full)
    pairs = correspondences([a, b])
    keys = {a.nodes[x].key for x, _ in pairs}
    assert {"embed.W", "layers.*.norm1.W", "optimizer.m", "norm_f.W"} <= keys
    dot = to_dot([a, b])
    # Corresponding nodes share a row: the outer row lists both optimizer.m nodes.
    outer_row = next(
        line for line in dot.splitlines() if "rank=same" in line and "A_s_optimizer_m" in line
    )
    assert "B_s_optimizer_m" in outer_row
    counts = parse_mermaid(to_mermaid([a, b]))
    assert counts["node"] == len(a.nodes) + len(b.nodes)


def test_write_levels_svg_takes_a_result_or_a_graph(tmp_path):
    result = front("hope")
    p1 = write_levels_svg(result, tmp_path / "levels.svg")
    p2 = write_levels_svg(result.full, tmp_path / "levels2.svg")
    assert p1.read_bytes() == p2.read_bytes()
    assert "layers.{0..1}.memory.M_k" in svg_texts(p1.read_bytes())
    from nlc.viz import write_levels_svg as public

    assert public(result, tmp_path / "l3.svg").read_bytes() == p1.read_bytes()
