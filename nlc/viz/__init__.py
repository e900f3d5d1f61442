"""Pictures of a model: the level graph, the frequency spectrum and the update timeline.

`write_levels_svg(front_result_or_graph, path)` is the entry point for other commands
(`nlc train` writes levels.svg into every run folder). The module is imported lazily so
that importing `nlc.viz` costs nothing until a picture is drawn.
"""

from __future__ import annotations


def write_levels_svg(result, path):
    """Write the folded level graph of a FrontResult (or Graph) to `path` as SVG."""
    from nlc.viz.render import write_levels_svg as write

    return write(result, path)


__all__ = ["write_levels_svg"]
