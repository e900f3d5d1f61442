"""`nlc compare RUN RUN ...`: runs side by side -- one table (size, tokens, time, speed, the
validation losses, the results `nlc eval` saved in RUN/eval) and one PNG overlaying the loss
curves against tokens seen and against training time.

Validation points are placed on the token and time axes by the training record of the same
step (metrics.jsonl: `tokens`, `seconds`). "val @ equal time" reads each validation curve,
linearly interpolated, at the training time of the shortest run: the comparison at equal
wall time that runs trained for equal tokens allow.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROG = "nlc compare"


class CompareError(Exception):
    """A run that cannot be compared: one line for the user, exit code 2."""


@dataclass
class Curves:
    """One run's numbers: the summary's and the curves of metrics.jsonl."""

    name: str
    parameters: int | None
    complete: bool | None
    train: list[tuple[int, float, float]] = field(default_factory=list)  # tokens, seconds, loss
    val: list[tuple[int, float, float]] = field(default_factory=list)  # tokens, seconds, loss
    evals: dict = field(default_factory=dict)  # RUN/eval NAME -> report

    @property
    def tokens(self) -> int:
        return self.train[-1][0] if self.train else 0

    @property
    def seconds(self) -> float:
        return self.train[-1][1] if self.train else 0.0

    def val_at_seconds(self, t: float) -> float | None:
        """The validation loss at training time t, linear between evaluations."""
        points = [(s, loss) for _, s, loss in self.val]
        for (s0, l0), (s1, l1) in zip(points, points[1:]):
            if t == s1:  # an evaluation's own time: its loss exactly (no rounding on the way)
                return l1
            if s0 <= t <= s1:
                return l0 if s1 == s0 else l0 + (l1 - l0) * (t - s0) / (s1 - s0)
        return points[-1][1] if points and t >= points[-1][0] else None


def read_run(folder: Path) -> Curves:
    from nlc.train.results import read_results

    if not folder.is_dir():
        raise CompareError(f"{folder}: no such run folder")
    metrics = folder / "metrics.jsonl"
    if not metrics.exists():
        raise CompareError(f"{folder}: not a trained run (no metrics.jsonl)")
    try:
        summary = json.loads((folder / "summary.json").read_text())
        summary = summary if isinstance(summary, dict) else {}
    except (OSError, ValueError):  # still training, or killed before the end: curves only
        summary = {}
    at_step = {0: (0, 0.0)}  # step -> (tokens, seconds) of its training record
    train, val_steps = [], []
    for line in metrics.read_text().splitlines():
        try:
            r = json.loads(line)
            step = int(r["step"])
        except (ValueError, KeyError, TypeError):  # a torn last line, or not a record
            continue
        if "loss" in r and "tokens" in r:
            # `seconds` since issue 17; before it, tokens / rate (exact for an unresumed run)
            seconds = r.get("seconds", r["tokens"] / max(r.get("tok_per_s", 0), 1e-9))
            at_step[step] = (r["tokens"], seconds)
            train.append((r["tokens"], seconds, r["loss"]))
        if "val_loss" in r:
            val_steps.append((step, r["val_loss"]))
    if not train:
        raise CompareError(f"{metrics}: no training step recorded")
    val = [(*at_step[s], loss) for s, loss in val_steps if s in at_step]
    return Curves(
        str(folder), summary.get("parameters"), summary.get("complete"), train, val,
        read_results(folder),
    )  # fmt: skip


def headline(report: dict) -> dict:
    """What a saved evaluation contributes to the comparison: a text evaluation its loss and
    bits per byte, a task its accuracy (and beyond the training context)."""
    if report.get("mode") == "task":
        return {"accuracy": report.get("accuracy"), "beyond_context": report.get("beyond_context")}
    return {"loss": report.get("loss"), "bits_per_byte": report.get("bits_per_byte")}


def comparison(runs: list[Curves]) -> dict:
    """Everything `nlc compare` shows, JSON-ready."""
    equal_time = min(r.seconds for r in runs)
    rows = []
    for r in runs:
        vals = [loss for _, _, loss in r.val]
        rows.append(
            {
                "run": r.name,
                "parameters": r.parameters,
                "tokens": r.tokens,
                "seconds": round(r.seconds, 2),
                "tokens_per_second": round(r.tokens / r.seconds, 1) if r.seconds else None,
                "best_val_loss": min(vals) if vals else None,
                "final_val_loss": vals[-1] if vals else None,
                "val_loss_at_equal_time": r.val_at_seconds(equal_time),
                "complete": r.complete,
                "evals": {name: headline(rep) for name, rep in r.evals.items()},
            }
        )
    return {"equal_time_seconds": round(equal_time, 2), "runs": rows}


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _eval_cell(h: dict | None) -> str:
    if not h:
        return "-"
    if "accuracy" in h:
        beyond = h.get("beyond_context")
        more = "" if beyond is None else f" (>ctx {100 * beyond:.0f}%)"
        return f"{100 * h['accuracy']:.1f}%{more}" if h["accuracy"] is not None else "-"
    return _num(h.get("loss"), ".4f")


def render_table(result: dict) -> str:
    evals = sorted({name for row in result["runs"] for name in row["evals"]})
    head = ["run", "params", "tokens", "time (s)", "tok/s", "best val", "final val"]
    head += [f"val @ {result['equal_time_seconds']:.0f}s", *evals]
    body = []
    for row in result["runs"]:
        params = row["parameters"]
        cells = [
            row["run"] + ("" if row["complete"] is not False else " (stopped)"),
            "-" if params is None else f"{params / 1e6:.3f}M",
            f"{row['tokens']:,}",
            f"{row['seconds']:,.1f}",
            _num(row["tokens_per_second"], ",.0f"),
            _num(row["best_val_loss"], ".4f"),
            _num(row["final_val_loss"], ".4f"),
            _num(row["val_loss_at_equal_time"], ".4f"),
        ]
        body.append(cells + [_eval_cell(row["evals"].get(name)) for name in evals])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))).rstrip() for r in [head, *body]]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("losses: cross-entropy in nats per token; eval columns: RUN/eval/NAME.json")
    return "\n".join(lines)


def write_compare_plot(runs: list[Curves], out: Path) -> Path:
    """Two panels, loss against tokens and against training time: validation points joined
    (solid), the per-step training loss faint behind them in the same colour."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120, sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    short = [Path(r.name).name for r in runs]
    labels = short if len(set(short)) == len(short) else [r.name for r in runs]
    for i, r in enumerate(runs):
        color = colors[i % len(colors)]
        for ax, axis in zip(axes, (0, 1)):
            ax.plot([p[axis] for p in r.train], [p[2] for p in r.train], color=color, lw=0.8,
                    alpha=0.25)  # fmt: skip
            if r.val:
                ax.plot([p[axis] for p in r.val], [p[2] for p in r.val], "o-", color=color,
                        lw=2, ms=3, label=labels[i])  # fmt: skip
    losses = [p[2] for r in runs for p in r.val] or [p[2] for r in runs for p in r.train]
    low, high = min(losses), max(losses)
    if math.isfinite(low) and math.isfinite(high) and high > low:
        axes[0].set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    axes[0].set_xlabel("tokens seen")
    axes[1].set_xlabel("training time (s)")
    axes[0].set_ylabel("cross-entropy (nats / token)")
    axes[0].set_title("against tokens")
    axes[1].set_title("against wall time")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("validation loss (points), training loss (faint)", fontsize=10)
    fig.tight_layout()
    from nlc.train.plot import save_figure

    return save_figure(fig, out, CompareError)


def compare_command(args) -> int:
    try:
        runs = [read_run(Path(r)) for r in args.runs]
        result = comparison(runs)
        result["png"] = str(write_compare_plot(runs, Path(args.png)))
    except CompareError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_table(result))
        print(f"plot: {result['png']}")
    return 0
