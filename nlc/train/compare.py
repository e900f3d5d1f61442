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

from nlc.errors import SpecError

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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(record: dict, key: str, where: str, kind: str = "number"):
    """record[key] checked: `number` (a loss: NaN and infinities are a diverged run's),
    `amount` (finite, >= 0) or `step` (an integer >= 0); one line naming the place if not."""
    value = record[key]
    if kind == "step":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
        ok = ok and value >= 0
        what = "an integer >= 0"
    elif kind == "amount":
        ok = _is_number(value) and math.isfinite(value) and value >= 0
        what = "a finite number >= 0"
    elif kind == "fraction":
        ok = value is None or (_is_number(value) and 0 <= value <= 1)
        what = "a number from 0 to 1"
    else:
        ok = _is_number(value) or (kind == "optional" and value is None)
        what = "a number"
    if not ok:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise CompareError(f"{where}: {key}: expected {what} (got {shown})")
    return int(value) if kind == "step" else value


def _read_json(path: Path):
    """A JSON file of the run (summary.json, RUN/eval/NAME.json): a regular file, UTF-8, JSON
    and an object; otherwise one line naming it."""
    from nlc.files import read_regular

    try:
        value = json.loads(read_regular(path, CompareError).decode("utf-8"))
    except ValueError as err:  # not UTF-8, or not JSON
        raise CompareError(f"{path}: not JSON ({err})") from None
    if not isinstance(value, dict):
        raise CompareError(f"{path}: expected a JSON object")
    return value


def read_summary(folder: Path) -> dict:
    """summary.json's parameters and completeness; a run still training, or killed before
    the end, has none (curves only)."""
    path = folder / "summary.json"
    if not path.exists() and not path.is_symlink():
        return {}
    summary = _read_json(path)
    if summary.get("parameters") is not None:
        _field(summary, "parameters", str(path), "amount")
    if summary.get("complete") is not None and not isinstance(summary["complete"], bool):
        raise CompareError(f"{path}: complete: expected true or false")
    return summary


def read_metrics(path: Path) -> tuple[list, list]:
    """(tokens, seconds, loss) of each training record and (step, loss) of each validation
    record of metrics.jsonl. A line that is not JSON (torn by a kill) or not a record is
    skipped; a record whose fields are not numbers, a file that is not UTF-8 or not a regular
    file is one line naming FILE:LINE."""
    from nlc.files import read_regular

    at_step = {0: (0, 0.0)}  # step -> (tokens, seconds) of its training record
    train, val_steps = [], []
    for number, raw in enumerate(read_regular(path, CompareError).splitlines(), 1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CompareError(f"{where}: not UTF-8 text") from None
        try:
            r = json.loads(line)
        except ValueError:  # a torn last line
            continue
        if not isinstance(r, dict) or "step" not in r:
            continue
        step = _field(r, "step", where, "step")
        if "loss" in r and "tokens" in r:
            tokens, loss = _field(r, "tokens", where, "amount"), _field(r, "loss", where)
            # runs record `seconds`; older runs only tokens / rate (exact for an unresumed run)
            if "seconds" in r:
                seconds = _field(r, "seconds", where, "amount")
            else:
                rate = _field(r, "tok_per_s", where, "amount") if "tok_per_s" in r else 0
                seconds = tokens / max(rate, 1e-9)
            at_step[step] = (tokens, seconds)
            train.append((tokens, seconds, loss))
        if "val_loss" in r:
            val_steps.append((step, _field(r, "val_loss", where)))
    return train, [(*at_step[s], loss) for s, loss in val_steps if s in at_step]


def read_evals(folder: Path) -> dict:
    """RUN/eval's saved results, the fields `headline` shows checked."""
    from nlc.train.results import FOLDER, read_results

    evals = read_results(folder, CompareError)
    for name, report in evals.items():
        where = str(folder / FOLDER / f"{name}.json")
        if report.get("mode") == "task":
            for key in ("accuracy", "beyond_context"):
                if key in report:
                    _field(report, key, where, "fraction")
        else:
            for key in ("loss", "bits_per_byte"):
                if key in report:
                    _field(report, key, where, "optional")
    return evals


def read_run(folder: Path) -> Curves:
    if not folder.is_dir():
        raise CompareError(f"{folder}: no such run folder")
    metrics = folder / "metrics.jsonl"
    if not metrics.exists():
        raise CompareError(f"{folder}: not a trained run (no metrics.jsonl)")
    summary = read_summary(folder)
    train, val = read_metrics(metrics)
    if not train:
        raise CompareError(f"{metrics}: no training step recorded")
    return Curves(
        str(folder), summary.get("parameters"), summary.get("complete"), train, val,
        read_evals(folder),
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
    from nlc.files import save_figure

    return save_figure(fig, out, CompareError)


def compare_command(args) -> int:
    from nlc.files import PNG, check_target, describe

    try:
        try:
            check_target(args.png, replaces=PNG)  # before reading: a folder, a device ...
        except SpecError as err:
            raise CompareError(f"--png {err}") from None
        runs = [read_run(Path(r)) for r in args.runs]
        result = comparison(runs)
        result["png"] = str(write_compare_plot(runs, Path(args.png)))
    except CompareError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path refused by the system (a name too long ...)
        print(f"{PROG}: error: {describe(err)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_table(result))
        print(f"plot: {result['png']}")
    return 0
