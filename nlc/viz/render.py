"""Write the level graph to a file; the output's extension picks the format.

`.svg`, `.png`, `.pdf` go through Graphviz when `dot` is installed; without it `.svg` (and
the drawings inside `.html`) come from the pure-Python layout, and `.png`/`.pdf` are an
error that says so. `.dot` and `.mmd` are text. Set NLC_VIZ_NO_DOT=1 to force the
pure-Python path (tests use it to cover the fallback where Graphviz is installed).
"""

from __future__ import annotations

import os
from pathlib import Path

from nlc.ir.graph import Graph
from nlc.pipeline import FrontResult
from nlc.viz.dot import have_dot, render_dot, to_dot
from nlc.viz.html import to_html
from nlc.viz.mermaid import to_mermaid
from nlc.viz.scene import Scene, build_scene
from nlc.viz.svg import to_svg

GRAPH_FORMATS = ("svg", "png", "pdf", "dot", "mmd", "html")


class RenderError(Exception):
    """Bad request for a picture (unknown format, missing tool); the CLI exits 2."""


def use_dot() -> bool:
    return have_dot() and not os.environ.get("NLC_VIZ_NO_DOT")


def output_format(path: str | Path, allowed: tuple[str, ...]) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in allowed:
        raise RenderError(
            f"{path}: unsupported output format '.{fmt}'; "
            f"expected one of {', '.join('.' + a for a in allowed)}"
        )
    return fmt


def svg_of(scenes: list[Scene]) -> str:
    return render_dot(to_dot(scenes), "svg").decode() if use_dot() else to_svg(scenes)


def graph_bytes(graphs: list[Graph], fmt: str, fold: bool = True, all_edges: bool = False) -> bytes:
    """The level graph of one graph, or two side by side, in format `fmt`."""
    scenes = [build_scene(g, fold=fold, all_edges=all_edges) for g in graphs]
    if fmt == "dot":
        return to_dot(scenes).encode()
    if fmt == "mmd":
        return to_mermaid(scenes).encode()
    if fmt == "svg":
        return svg_of(scenes).encode()
    if fmt == "html":
        folded = [build_scene(g, fold=True, all_edges=all_edges) for g in graphs]
        unfolded = [build_scene(g, fold=False, all_edges=all_edges) for g in graphs]
        return to_html(folded, unfolded, (svg_of(folded), svg_of(unfolded))).encode()
    if fmt in ("png", "pdf"):
        if not use_dot():
            raise RenderError(
                f".{fmt} needs Graphviz's `dot` (Debian: apt-get install graphviz; "
                "`make setup` does it as root); .svg, .html, .mmd and .dot work without it"
            )
        return render_dot(to_dot(scenes), fmt)
    raise RenderError(f"unsupported output format '.{fmt}'")


def write_graph(graphs: list[Graph], path: str | Path, **options) -> Path:
    path = Path(path)
    data = graph_bytes(graphs, output_format(path, GRAPH_FORMATS), **options)
    path.write_bytes(data)
    return path


def write_levels_svg(result: FrontResult | Graph, path: str | Path) -> Path:
    """levels.svg of a run folder: the folded level graph of the full (uncollapsed) model.

    Called by `nlc train` beside its loss curve; takes a FrontResult or a Graph."""
    graph = result.full if isinstance(result, FrontResult) else result
    path = Path(path)
    path.write_bytes(graph_bytes([graph], "svg"))
    return path
