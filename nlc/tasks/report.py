"""A task's scores as a report: accuracy by distance as a dict (the JSON), a table and a PNG."""

from __future__ import annotations

from pathlib import Path

from nlc.tasks.score import Scored
from nlc.tasks.taskfile import TaskError

EXACT_ROWS = 12  # up to this many distinct distances get a row each; more: power-of-2 buckets


def _row(label: str, lo: int, hi: int, part: list[Scored]) -> dict:
    tokens = sum(s.tokens for s in part)
    return {
        "distance": label,
        "min": lo,
        "max": hi,
        "answers": len(part),
        "tokens": tokens,
        "accuracy": sum(s.correct for s in part) / tokens,
        "exact": sum(s.exact for s in part) / len(part),
    }


def rows_by_distance(scored: list[Scored]) -> list[dict]:
    """One row per distance when there are few (passkey), else per [2^k, 2^(k+1)) (mqar)."""
    distances = sorted({s.distance for s in scored})
    if len(distances) <= EXACT_ROWS:
        return [_row(str(d), d, d, [s for s in scored if s.distance == d]) for d in distances]
    rows, lo = [], 1
    while lo <= distances[-1]:
        part = [s for s in scored if lo <= s.distance < 2 * lo]
        if part:
            rows.append(_row(f"{lo}-{2 * lo - 1}", lo, 2 * lo - 1, part))
        lo *= 2
    return rows


def _accuracy(part: list[Scored]):
    tokens = sum(s.tokens for s in part)
    return sum(s.correct for s in part) / tokens if tokens else None


def make_task_report(scored: list[Scored], meta: dict, chance: float | None) -> dict:
    """The JSON of `nlc eval --task`: `meta` (run, task, source, context ...) and the scores;
    `beyond_context` is the accuracy on answers further back than the training context."""
    if not scored:
        raise TaskError("no answers to score")
    context = meta["context"]
    return {
        **meta,
        "answers": len(scored),
        "answer_tokens": sum(s.tokens for s in scored),
        "accuracy": _accuracy(scored),
        "exact": sum(s.exact for s in scored) / len(scored),
        "chance": chance,
        "within_context": _accuracy([s for s in scored if s.distance < context]),
        "beyond_context": _accuracy([s for s in scored if s.distance >= context]),
        "by_distance": rows_by_distance(scored),
    }


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_task_table(report: dict) -> str:
    span = report.get("attention_span")
    reach = f"  attention span: {span}" if span else ""
    lines = [
        f"run: {report['run']}  task: {report['task']} ({report['source']})  "
        f"examples: {report['examples']}  context: {report['context']}{reach}",
        f"accuracy {_pct(report['accuracy'])} of {report['answer_tokens']:,} answer tokens  "
        f"exact {_pct(report['exact'])} of {report['answers']:,} answers  "
        f"chance {_pct(report['chance'])}  beyond context {_pct(report['beyond_context'])}",
        f"{'distance':<12}{'answers':>9}{'tokens':>9}{'accuracy':>10}{'exact':>9}",
    ]
    for r in report["by_distance"]:
        lines.append(
            f"{r['distance']:<12}{r['answers']:>9,}{r['tokens']:>9,}"
            f"{_pct(r['accuracy']):>10}{_pct(r['exact']):>9}"
        )
    return "\n".join(lines)


def write_task_plot(report: dict, out: Path) -> Path:
    """Accuracy against distance (log axis), chance and the context (and attention span)
    marked: a memory that recalls past the window keeps its curve up right of the lines."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = report["by_distance"]
    x = [(r["min"] * r["max"]) ** 0.5 for r in rows]  # a bucket's middle on a log axis
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(x, [r["accuracy"] for r in rows], "o-", color="#c33", lw=2, ms=4, label="tokens")
    ax.plot(x, [r["exact"] for r in rows], "s--", color="#36c", lw=1, ms=3, label="whole answers")
    if report.get("chance"):
        ax.axhline(report["chance"], color="#999", ls="--", lw=1, label="chance (per token)")
    ax.axvline(report["context"], color="#333", ls=":", lw=1.5, label="training context")
    span = report.get("attention_span")
    if span and span != report["context"]:
        ax.axvline(span, color="#393", ls="-.", lw=1.5, label="attention span")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())  # 64, not 2^6
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("distance to the recalled value (tokens)")
    ax.set_ylabel("accuracy (teacher-forced, greedy)")
    ax.set_title(f"{Path(report['run']).name}: {report['task']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    from nlc.files import save_figure

    return save_figure(fig, out, TaskError)


def niah_cells(examples, scored: list[Scored]) -> dict:
    """What a needle-in-a-haystack report adds: one cell per (depth, length), with `n`
    examples, `exact` (the score: whole answers right), `accuracy` (answer tokens right) and
    `chance` (of an exact answer by guessing each token from the answer alphabet)."""
    if len(scored) != len(examples):
        raise TaskError("niah: expected one answer per example")
    groups: dict[tuple[int, int], list] = {}
    for e, s in zip(examples, scored):
        groups.setdefault((e.extra["depth"], e.extra["length"]), []).append((e, s))
    lengths = sorted({length for _, length in groups})
    depths = sorted({depth for depth, _ in groups})
    cells = []
    for depth in depths:
        for length in lengths:
            part = groups.get((depth, length), [])
            if not part:
                continue
            first = part[0][0].extra
            odds = [1 / len(e.choices) ** s.tokens if e.choices else 0.0 for e, s in part]
            cells.append(
                {
                    "depth": depth,
                    "length": length,
                    "multiple": first.get("multiple"),
                    "n": len(part),
                    "exact": sum(s.exact for _, s in part) / len(part),
                    "accuracy": _accuracy([s for _, s in part]),
                    "chance": sum(odds) / len(odds),
                }
            )
    needles = sorted({e.extra.get("needle", "?") for e in examples})
    haystacks = sorted({e.extra.get("haystack", "?") for e in examples})
    return {
        "needle": ", ".join(needles),
        "haystack": ", ".join(haystacks),
        "lengths": lengths,
        "depths": depths,
        "cells": cells,
    }


def _length_label(length: int, context: int, multiple=None) -> str:
    """`2,048 (8x)`: tokens and the multiple of the context."""
    if multiple is None and context and length % context == 0:
        multiple = length // context
    return f"{length:,} ({multiple}x)" if multiple else f"{length:,}"


def _grid(report: dict) -> list[list]:
    """Exact-match accuracy by [depth][length] (None where a cell is missing)."""
    at = {(c["depth"], c["length"]): c["exact"] for c in report["cells"]}
    return [[at.get((d, n)) for n in report["lengths"]] for d in report["depths"]]


def render_niah_table(report: dict) -> str:
    span = report.get("attention_span")
    reach = f"  attention span: {span}" if span else ""
    chance = max(c["chance"] for c in report["cells"])
    lines = [
        f"run: {report['run']}  task: niah ({report['source']})  examples: "
        f"{report['examples']}  context: {report['context']}{reach}",
        f"needle: {report['needle']}  haystack: {report['haystack']}",
        f"exact match {_pct(report['exact'])} of {report['answers']:,} answers  "
        f"tokens {_pct(report['accuracy'])}  chance {100 * chance:.2g}%  "
        f"beyond context {_pct(report['beyond_context'])}",
        "exact-match accuracy by needle depth (rows) and total length in tokens (columns)",
    ]
    multiples = {c["length"]: c.get("multiple") for c in report["cells"]}
    heads = [_length_label(n, report["context"], multiples[n]) for n in report["lengths"]]
    width = max(10, *(len(h) + 2 for h in heads))
    lines.append(f"{'depth':<8}" + "".join(f"{h:>{width}}" for h in heads))
    for depth, row in zip(report["depths"], _grid(report)):
        lines.append(f"{f'{depth}%':<8}" + "".join(f"{_pct(v):>{width}}" for v in row))
    return "\n".join(lines)


def write_niah_plot(report: dict, out: Path) -> Path:
    """A heat map: total length across (tokens, and multiple of the context), needle depth
    down, colour the exact-match accuracy from 0 (red) to 1 (green), the value in each cell."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    import numpy as np

    grid = np.array([[np.nan if v is None else v for v in row] for row in _grid(report)])
    lengths, depths = report["lengths"], report["depths"]
    multiples = {c["length"]: c.get("multiple") for c in report["cells"]}
    width = 2.2 + 1.1 * len(lengths)
    fig, ax = plt.subplots(figsize=(max(5.5, width), 1.4 + 0.55 * len(depths)), dpi=120)
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(len(depths)):
        for j in range(len(lengths)):
            v = grid[i, j]
            label = "-" if np.isnan(v) else f"{100 * v:.0f}%"
            dark = not np.isnan(v) and (v < 0.2 or v > 0.85)  # the ends of the map are dark
            ax.text(j, i, label, ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(len(lengths)))
    ax.set_xticklabels(
        [_length_label(n, report["context"], multiples[n]).replace(" ", "\n") for n in lengths],
        fontsize=8,
    )
    ax.set_yticks(range(len(depths)))
    ax.set_yticklabels([f"{d}%" for d in depths], fontsize=8)
    ax.set_xlabel("total length (tokens; multiple of the training context)")
    ax.set_ylabel("needle depth")
    n = sorted({c["n"] for c in report["cells"]})
    per = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    ax.set_title(
        f"{Path(report['run']).name}: needle in a haystack ({report['needle']}), "
        f"context {report['context']:,}, {per} per cell",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, label="exact match", fraction=0.05, pad=0.03)
    fig.tight_layout()
    from nlc.files import save_figure

    return save_figure(fig, out, TaskError)
