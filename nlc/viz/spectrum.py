"""`nlc spectrum`: every state on a logarithmic frequency axis, sized by the numbers it holds.

Top panel: the numbers held by each level at its frequency (the model's "power spectrum"):
weights, in-context memories, caches and optimizer moments alike, each a state of its level
(a moment is a state, never a parameter). Bottom panel: one bubble per state (repeated layers
folded into one bubble with a ×N count and their summed sizes), at its frequency, area ∝
numbers held, coloured by kind. Frequencies and the placement of `outer` and `frozen`: see
`nlc.viz.frequency`.
"""

from __future__ import annotations

import math
from pathlib import Path

from nlc.ir.graph import Graph
from nlc.report import human
from nlc.viz.frequency import frequency, tokens_per_step
from nlc.viz.mpl import pyplot, save
from nlc.viz.scene import build_scene
from nlc.viz.style import STATE_COLOR

SIZE = (11.0, 6.5)  # inches; at 100 dpi the PNG is 1100 × 650


def _freq_label(graph: Graph, period) -> str:
    if period.tokens is not None:
        return "1" if period.tokens == 1 else f"1/{period.tokens}"
    if period.is_outer:
        name = "outer" if period.steps == 1 else f"outer*{period.steps}"
        return f"{name}\n1/{period.steps * tokens_per_step(graph)}"
    return "frozen\n(never)"


def draw_spectrum(graph: Graph, path: str | Path, fmt: str) -> Path:
    plt = pyplot()
    scene = build_scene(graph, fold=True)
    fig, (top, ax) = plt.subplots(
        2, 1, figsize=SIZE, sharex=True, gridspec_kw={"height_ratios": [1, 3]}
    )
    levels = graph.levels or ()
    biggest = max((n.params for n in scene.states()), default=1) or 1
    row = 0  # one row per state, so that no two labels collide
    for level in levels:
        f = frequency(graph, level.period)
        total = sum(graph.param_count(s) for s in level.states)
        top.vlines(f, 1, max(total, 1), color="#555555", lw=3)
        top.annotate(
            human(total),
            (f, max(total, 1)),
            textcoords="offset points",
            xytext=(4, -2),
            fontsize=8,
            va="top",
        )
        ax.axvline(f, color="#dddddd", lw=0.8, zorder=0)
        band = [scene.nodes[n] for n in scene.bands[level.number].nodes]
        for node in band:
            i = row
            row += 1
            area = 20 + 700 * math.sqrt(node.params / biggest)
            colour = STATE_COLOR.get(node.kind, "#333333")
            ax.scatter(
                [f],
                [i],
                s=area,
                color=colour,
                alpha=0.75,
                edgecolors="#222222",
                linewidths=0.5,
                zorder=2,
            )
            badge = f" ×{node.count}" if node.count > 1 else ""
            ax.annotate(
                f"{node.label}{badge} · {human(node.params)}",
                (f, i),
                textcoords="offset points",
                xytext=(9, -3),
                fontsize=7,
            )
    ticks = [frequency(graph, lv.period) for lv in levels]
    ax.set_xscale("log")
    top.set_yscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels([_freq_label(graph, lv.period) for lv in levels], fontsize=8)
    ax.minorticks_off()
    lo = min(ticks, default=1e-3)
    ax.set_xlim(lo / 4, 40.0)  # room on the right for the labels of the fastest states
    ax.set_ylim(row, -1)  # fastest level's states on top
    ax.set_yticks([])
    ax.set_xlabel(
        "update frequency (updates per token, log scale); outer = once per optimizer step of "
        f"batch × accumulate × context = {tokens_per_step(graph)} tokens",
        fontsize=9,
    )
    top.set_ylabel("numbers held\nper level", fontsize=9)
    for lv in levels:
        top.annotate(
            f"L{lv.number}",
            (frequency(graph, lv.period), 1),
            textcoords="offset points",
            xytext=(-4, 2),
            fontsize=8,
            ha="right",
            color="#555555",
        )
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=c, label=k.replace("_", " "))
        for k, c in STATE_COLOR.items()
        if any(n.kind == k for n in scene.states())
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    top.set_title(f"{graph.name}: frequency spectrum of the states (fast → right)", fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.97, top=0.93, bottom=0.13, hspace=0.08)
    return save(fig, path, fmt)
