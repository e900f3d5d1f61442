"""The recall bench's results as a table (stdout), JSON (DIR/recall.json) and a PNG
(DIR/recall.png): per spec, accuracy by sequence length, by number of pairs and by distance,
within and beyond the attention window."""

from __future__ import annotations

import json
from pathlib import Path

from nlc.recall.settings import WINDOW


def _pct(value) -> str:
    return "   -" if value is None else f"{100 * value:5.1f}"


def render_table(report: dict) -> str:
    results = report["results"]
    cells = report["settings"]["cells"]
    head = f"{'spec':<14}{'steps':>6}{'min':>6}" + "".join(f"{c:>8}" for c in cells)
    head += f"{'<=' + str(WINDOW):>8}{'>' + str(WINDOW):>8}"
    lines = [
        f"MQAR accuracy (%) by cell SEQxPAIRS and by distance (window {WINDOW}); "
        f"chance {_pct(report['chance']).strip()}%",
        head,
    ]
    for r in results:
        row = f"{r['spec']:<14}{r['steps']:>6}{r['train_seconds'] / 60:>6.1f}"
        row += "".join(f"{_pct(r['cells'].get(c)):>8}" for c in cells)
        lines.append(row + f"{_pct(r['within_window']):>8}{_pct(r['beyond_window']):>8}")
    buckets = [row["distance"] for row in results[0]["by_distance"]] if results else []
    lines += ["", "by distance: " + "".join(f"{b:>9}" for b in buckets)]
    for r in results:
        acc = {row["distance"]: row["accuracy"] for row in r["by_distance"]}
        lines.append(f"{r['spec']:<13}" + "".join(f"{_pct(acc.get(b)):>9}" for b in buckets))
    lines.append(f"\ntotal {report['total_seconds'] / 60:.1f} min; {report['png']}")
    return "\n".join(lines)


def write_json(report: dict, out: Path) -> Path:
    from nlc.files import write_file

    return write_file(out, json.dumps(report, indent=2) + "\n", replaces=b"{")


def _series(result: dict, cells, pick) -> tuple[list[int], list[float]]:
    chosen = sorted((pick(c), result["cells"][c.label]) for c in cells if pick(c) is not None)
    return [x for x, _ in chosen], [100 * y for _, y in chosen]


def write_plot(report: dict, cells, out: Path) -> Path:
    """Three panels: accuracy by sequence length (8 pairs), by pairs (128 tokens), by distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = {c.seq_len for c in cells}
    base_pairs = 8 if any(c.pairs == 8 for c in cells) else min(c.pairs for c in cells)
    base_len = 128 if 128 in lengths else min(lengths)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for r in report["results"]:
        x, y = _series(r, cells, lambda c: c.seq_len if c.pairs == base_pairs else None)
        axes[0].plot(x, y, "o-", label=r["spec"])
        x, y = _series(r, cells, lambda c: c.pairs if c.seq_len == base_len else None)
        axes[1].plot(x, y, "o-", label=r["spec"])
        rows = r["by_distance"]
        axes[2].plot([(row["min"] + row["max"]) / 2 for row in rows],
                     [100 * row["accuracy"] for row in rows], "o-", label=r["spec"])  # fmt: skip
    axes[0].set(xlabel=f"sequence length ({base_pairs} pairs)", xscale="log")
    axes[0].set_xticks(sorted(lengths))
    axes[1].set(xlabel=f"pairs ({base_len} tokens)", xscale="log")
    axes[2].set(xlabel="distance (tokens)", xscale="log")
    axes[2].axvline(WINDOW, color="grey", ls="--", lw=1)
    for ax in axes:
        ax.set_ylim(-2, 102)
        ax.set_ylabel("accuracy (%)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        if report["chance"]:
            ax.axhline(100 * report["chance"], color="grey", ls=":", lw=1)
    axes[2].legend(fontsize=8)
    fig.suptitle("MQAR recall (nlc bench recall)")
    fig.tight_layout()
    fig.set_dpi(100)
    from nlc.files import WriteError, save_figure

    return save_figure(fig, out, WriteError)
