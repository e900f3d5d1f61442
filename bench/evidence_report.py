"""OUT/report.md for `bench/evidence.py`: the tables of what the runs measured, read back from
their folders (summary, metrics, RUN/eval/*.json), and what holds of the paper's ordering.
Numbers only: every sentence that judges is computed from them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from nlc.train.compare import comparison, read_run
from nlc.train.results import read_results


def _f(value, fmt: str = ".4f") -> str:
    return "-" if value is None else format(value, fmt)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _rel(out: Path, path: Path) -> str:
    return os.path.relpath(path, out)


def _text_eval(run: Path) -> dict | None:
    """The `nlc eval` of the validation split (whole, or its first N tokens in --quick)."""
    for name, report in sorted(read_results(run).items()):
        if report.get("mode") == "windows" and name.startswith("val"):
            return report
    return None


def lm_section(out: Path, corpus: str, runs: list[Path], widths: dict) -> list[str]:
    if not runs:
        return [f"## {corpus}: no run finished (see the logs)", ""]
    table = comparison([read_run(r) for r in runs])
    lines = [
        f"## Language modelling: {corpus}",
        "",
        f"Equal tokens; `val loss` is `nlc eval` over the validation split; `@ equal time` is "
        f"each validation curve read at {table['equal_time_seconds']:.0f} s, the training "
        "time of the fastest run.",
        "",
        "| model | d_model | parameters | tokens | train time (s) | tokens/s | val loss "
        "| bits/byte | val tokens | best val (training estimate) | @ equal time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    losses = {}
    for run, row in zip(runs, table["runs"]):
        spec = run.name
        ev = _text_eval(run) or {}
        losses[spec] = ev.get("loss")
        lines.append(
            f"| {spec} | {widths[spec][0]} | {row['parameters']:,} | {row['tokens']:,} "
            f"| {row['seconds']:.0f} | {_f(row['tokens_per_second'], ',.0f')} "
            f"| {_f(ev.get('loss'))} | {_f(ev.get('bits_per_byte'), '.3f')} "
            f"| {_f(ev.get('tokens'), ',')} | {_f(row['best_val_loss'])} "
            f"| {_f(row['val_loss_at_equal_time'])} |"
        )
    lines += ["", ordering(losses), "", f"![{corpus}]({_rel(out, out / f'compare-{corpus}.png')})"]
    return lines + [""]


def ordering(losses: dict) -> str:
    """Whether HOPE <= Titans <= Transformer (the NL paper's perplexity order at 760M) holds
    here, with the numbers; Titans = the better of the two Titans presets."""
    titans = [losses[k] for k in ("titans-lmm", "titans-mac") if losses.get(k) is not None]
    hope, transformer = losses.get("hope"), losses.get("transformer")
    if hope is None or transformer is None or not titans:
        return "The paper's ordering cannot be checked: a run or its evaluation is missing."
    best_titans = min(titans)
    first, second = hope <= best_titans, best_titans <= transformer
    verdict = "holds" if first and second else "does not hold"
    parts = [
        f"HOPE {hope:.4f} {'<=' if first else '>'} best Titans {best_titans:.4f}",
        f"best Titans {'<=' if second else '>'} Transformer {transformer:.4f}",
    ]
    return (
        f"**The NL paper's order (HOPE <= Titans <= Transformer in loss) {verdict} here**: "
        + "; ".join(parts)
        + ". Ranked: "
        + ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(losses.items(), key=lambda kv: kv[1] or 1e9) if v
        )
        + "."
    )


def passkey_section(out: Path, runs: list[Path], context: int) -> list[str]:
    if not runs:
        return []
    reports = {r.name: read_results(r).get("task-passkey") for r in runs}
    distances = []
    for rep in reports.values():
        for row in (rep or {}).get("by_distance", []):
            if row["distance"] not in distances:
                distances.append(row["distance"])
    lines = [
        "## Passkey retrieval beyond the window",
        "",
        f"Trained on passkey files with distances inside the context ({context} tokens), "
        "then scored (teacher-forced greedy accuracy on the 5 value digits; chance 10%) at "
        "distances up to 8x the context, each example streamed in pieces of the context with "
        "the state carried. The Transformer's attention sees the last "
        f"{context} tokens (its cache slides: a windowed Transformer); the Titans and HOPE "
        "memories carry on without a window.",
        "",
        "| model | " + " | ".join(f"d={d}" for d in distances) + " | beyond context |",
        "|---|" + "---|" * (len(distances) + 1),
    ]
    for name, rep in reports.items():
        if rep is None:
            lines.append(f"| {name} | " + " | ".join("-" for _ in distances) + " | - |")
            continue
        acc = {row["distance"]: row["accuracy"] for row in rep["by_distance"]}
        cells = " | ".join(_pct(acc.get(d)) for d in distances)
        lines.append(f"| {name} | {cells} | {_pct(rep['beyond_context'])} |")
    beyond = {k: v["beyond_context"] for k, v in reports.items() if v}
    best = max(beyond, key=beyond.get) if beyond else None
    if best is not None:
        lines += [
            "",
            f"Best beyond the context: {best} ({_pct(beyond[best])}; chance 10%).",
        ]
    lines += ["", f"![passkey curves]({_rel(out, out / 'compare-passkey.png')})", ""]
    for r in runs:
        png = r / "eval" / "task-passkey.png"
        if png.exists():
            lines.append(f"![{r.name} passkey]({_rel(out, png)})")
    return lines + [""]


def stream_section(out: Path, runs: list[Path], context: int) -> list[str]:
    if not runs or not runs[0]:
        return []
    found = [rep for rep in read_results(runs[0]).values() if rep.get("mode") == "stream"]
    if not found:
        return []
    rep = found[0]
    lines = [
        "## A persisted memory over a long stream",
        "",
        f"Titans LMM with `persist: true` (its memory carried from one training sequence to the "
        f"next), trained at context {context}, then {rep['tokens']:,} held-out tokens as one "
        "stream (`nlc eval --stream`):",
        "",
        "| position | " + " | ".join(f"{b['start']}-{b['end']}" for b in rep["buckets"]) + " |",
        "|---|" + "---|" * len(rep["buckets"]),
        "| loss | " + " | ".join(f"{b['loss']:.3f}" for b in rep["buckets"]) + " |",
        "",
        f"![stream]({_rel(out, out / 'stream-persist.png')})",
        "",
    ]
    return lines


def write_report(out: Path, results: dict, quick: bool) -> Path:
    s, m = results["settings"], results["machine"]
    lines = [
        "# Small-scale evidence: Transformer, Titans and HOPE at equal size and tokens",
        "",
        f"Written by `bench/evidence.py{' --quick' if quick else ''}` in "
        f"{results['seconds']:.0f} s on {m['cores']} cores ({m['cpu']}; torch {m['torch']}, "
        f"{m['threads']} threads; Python {m['python']}).",
        "",
        f"Settings: about {s['params']:,} parameters per model (d_model chosen per preset), "
        f"context {s['context']}, batch {s['batch_size']}, {s['tokens']:,} training tokens per "
        f"model and corpus, peak lr {s['lr']} for every model (cosine, no tuning), one seed.",
        "",
    ]
    if quick:
        lines += [
            "**Quick settings (a smoke test): these numbers say the pipeline works, not which "
            "model is better.**",
            "",
        ]
    widths = results["widths"]
    for corpus in ("shakespeare", "python"):
        if corpus in results["runs"]:
            lines += lm_section(out, corpus, results["runs"][corpus], widths)
    lines += passkey_section(out, results["runs"].get("passkey", []), s["context"])
    lines += stream_section(out, results["runs"].get("stream", []), s["context"])
    failed = [x for x in results["steps"] if x["code"] != 0]
    lines += ["## Steps", "", "| step | seconds | exit |", "|---|---|---|"]
    lines += [f"| {x['name']} | {x['seconds']} | {x['code']} |" for x in results["steps"]]
    if failed:
        lines += ["", f"**{len(failed)} step(s) failed**: see OUT/logs."]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    plain = {k: v for k, v in results.items() if k != "runs"}
    plain["runs"] = {k: [str(r) for r in v if r] for k, v in results["runs"].items()}
    (out / "results.json").write_text(json.dumps(plain, indent=2) + "\n")
    return report
