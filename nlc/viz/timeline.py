"""`nlc timeline`: which states update after which token of one sequence.

One row per state (repeated layers folded, `--unfold` for all), grouped by level, fastest on
top: a tick after every token t ≡ 0 mod C, a hollow ring at the end for the flushed last
partial chunk, and a diamond right of the sequence for `outer` states, which update at the
optimizer step after the sequence. Frozen states never fire.
"""

from __future__ import annotations

from pathlib import Path

from nlc.ir.graph import Graph
from nlc.viz.frequency import firings
from nlc.viz.mpl import pyplot, save
from nlc.viz.scene import build_scene
from nlc.viz.style import BAND_FILL, STATE_COLOR

WIDTH = 12.0  # inches


def figure_size(rows: int) -> tuple[float, float]:
    """Figure size in inches for `rows` state rows (× 100 dpi = pixels)."""
    return (WIDTH, round(1.4 + 0.28 * max(rows, 3), 2))


def timeline_rows(graph: Graph, fold: bool = True) -> list[tuple[str, object, str]]:
    """(label, period, kind) per row, fastest level first."""
    scene = build_scene(graph, fold=fold)
    rows = []
    for band in scene.bands[1:]:
        for nid in band.nodes:
            node = scene.nodes[nid]
            badge = f" ×{node.count}" if node.count > 1 else ""
            rows.append((node.label + badge, band.period, node.kind))
    return rows


def draw_timeline(
    graph: Graph, path: str | Path, fmt: str, tokens: int, fold: bool = True, flush: bool = True
) -> Path:
    plt = pyplot()
    rows = timeline_rows(graph, fold)
    fig, ax = plt.subplots(figsize=figure_size(len(rows)))
    end = tokens + max(2, tokens // 40)  # x of the after-the-sequence markers
    last_period = None
    shade = 0
    for y, (_, period, kind) in enumerate(rows):
        if period != last_period:
            shade += 1
            last_period = period
        ax.axhspan(y - 0.5, y + 0.5, color=BAND_FILL[shade % 2], zorder=0, lw=0)
        colour = STATE_COLOR.get(kind, "#333333")
        regular, partial = firings(period, tokens, flush)
        if regular:
            ax.vlines(regular, y - 0.35, y + 0.35, color=colour, lw=1.2)
        if partial is not None:
            ax.scatter([partial], [y], s=30, facecolors="none", edgecolors=colour, zorder=3)
        if period.is_outer:
            ax.scatter([end], [y], marker="D", s=22, color=colour, zorder=3)
        if period.is_frozen:
            ax.annotate("never", (tokens / 2, y), fontsize=7, va="center", color="#777777")
    ax.axvline(tokens + 0.5, color="#999999", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{label}  ({period})" for label, period, _ in rows], fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, end + max(2, tokens // 40))
    ax.set_xlabel(
        f"token t of a {tokens}-token sequence (tick: update after token t; ring: flushed "
        "partial chunk; diamond: outer update at the optimizer step)",
        fontsize=8,
    )
    ax.set_title(f"{graph.name}: update timeline (period in brackets)", fontsize=11)
    w, h = figure_size(len(rows))
    # A fixed margin in inches for the long state names, whatever the figure height.
    fig.subplots_adjust(left=3.2 / w, right=0.98, top=1 - 0.45 / h, bottom=0.7 / h)
    return save(fig, path, fmt)
