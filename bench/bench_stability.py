"""Do the small presets train without blowing up on texts they were not tuned on?

Trains every small preset at the demo's settings (lr 3e-3, batch 8, context 128, warmup 10,
300 steps) on four corpora built from files every Python installation has, plus the bundled one:

- shakespeare: the bundled corpus (the presets were tuned on it);
- python: the standard library's top-level .py files (source code: indentation, symbols);
- pydoc: the Python reference documentation (`pydoc_data.topics`, English technical prose);
- random: uniformly random bytes (nothing to learn: the loss must stay flat, and finite).

Prints one row per run: final train loss, best validation loss, or the step it went non-finite.
Usage: python bench/bench_stability.py [--presets hope,titans-lmm] [--corpora python] [--steps N]
It takes about an hour on 2 CPU cores for everything (HOPE: about 2 minutes per corpus).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ["transformer", "titans-lmm", "titans-mac", "titans-mag", "titans-mal",
           "hope-attention", "hope", "hope-lm", "hope-large-chunk"]  # fmt: skip
CORPORA = ["shakespeare", "python", "pydoc", "random"]
CORPUS_BYTES = 2_000_000


def build_corpus(name: str, folder: Path) -> Path | None:
    """The corpus file (None: the bundled default). Deterministic: same bytes on every run."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "shakespeare":
        return None
    if name == "python":
        path = folder / "python.txt"
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        parts, size = [], 0
        for source in sorted(stdlib.glob("*.py")):
            text = source.read_text(encoding="utf-8", errors="replace")
            parts.append(text)
            size += len(text)
            if size > CORPUS_BYTES:
                break
        path.write_text("\n".join(parts), encoding="utf-8")
        return path
    if name == "pydoc":
        from pydoc_data.topics import topics

        path = folder / "pydoc.txt"
        path.write_text("\n\n".join(topics[k] for k in sorted(topics)), encoding="utf-8")
        return path
    if name == "random":
        path = folder / "random.bin"  # uint16 tokens in the byte vocabulary
        rng = np.random.default_rng(0)
        rng.integers(0, 256, CORPUS_BYTES // 2, dtype=np.uint16).tofile(path)
        return path
    raise SystemExit(f"unknown corpus {name!r}; choose from {', '.join(CORPORA)}")


def train(preset: str, data: Path | None, out: Path, steps: int) -> dict:
    argv = [sys.executable, "-m", "nlc", "train", str(ROOT / "specs" / f"{preset}.yaml"),
            "--out", str(out), "--steps", str(steps), "--batch-size", "8", "--context", "128",
            "--lr", "3.0e-3", "--warmup", "10", "--eval-every", "100", "--eval-iters", "4",
            "--ckpt-every", str(steps)]  # fmt: skip
    if data is not None:
        argv += ["--data", str(data)]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    row = {
        "preset": preset,
        "seconds": round(time.perf_counter() - start, 1),
        "exit": proc.returncode,
    }
    summary = out / "summary.json"
    if proc.returncode == 0 and summary.exists():
        s = json.loads(summary.read_text())
        row.update(final=s["final_train_loss"], best_val=s["best_val_loss"],
                   first_val=s["first_val_loss"], tok_s=s["tokens_per_second"])  # fmt: skip
    else:
        row["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "runs" / "stability"))
    args = parser.parse_args()
    out = Path(args.out)
    rows = []
    print(f"{'preset':16} {'corpus':12} {'first val':>9} {'best val':>9} {'final':>7} {'s':>6}")
    for corpus in args.corpora.split(","):
        data = build_corpus(corpus, out / "corpora")
        for preset in args.presets.split(","):
            row = train(preset, data, out / f"{preset}-{corpus}", args.steps)
            row["corpus"] = corpus
            rows.append(row)
            if "error" in row:
                print(f"{preset:16} {corpus:12} FAILED: {row['error']}", flush=True)
            else:
                print(f"{preset:16} {corpus:12} {row['first_val']:9.3f} {row['best_val']:9.3f} "
                      f"{row['final']:7.3f} {row['seconds']:6.0f}", flush=True)  # fmt: skip
    (out / "stability.json").write_text(json.dumps(rows, indent=2) + "\n")
    failed = [r for r in rows if "error" in r]
    print(f"{len(rows) - len(failed)} of {len(rows)} runs finished with finite losses")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
