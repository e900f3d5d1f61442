"""The small-scale evidence for HOPE: does the multi-timescale model learn better
than a Transformer or Titans at equal size and equal tokens, here, on 2 CPU cores?

    python bench/evidence.py --out runs/evidence            # the full run (about 30 min)
    python bench/evidence.py --quick --out runs/evidence-q  # a smoke test (a few minutes)
    make evidence                                           # the full run, into runs/evidence

Steps, each with nlc's own commands (called in this process; each one's output goes to
OUT/logs/NAME.log):

1. sizes: every preset's d_model chosen (binary search over `nlc check`'s parameter count)
   so that all have about `--params` parameters, at one context;
2. language modelling: each model trained for `--tokens` tokens on the bundled Shakespeare
   corpus and on Python source (the standard library on this disk, `--code-bytes` of it),
   then `nlc eval` over the whole validation split, and `nlc compare` of the runs;
3. passkey: each model of `--passkey-models` trained on a passkey task file with distances
   inside the context, then scored at distances up to 8x the context: the Transformer's
   attention sees the last `context` tokens when it streams (a sliding window), the memories
   carry on;
4. the long stream: a Titans run whose memory persists across sequences (`persist: true`),
   its loss by position over a long held-out stream (`nlc eval --stream`).

OUT/report.md gathers the tables (written by `evidence_report.py`) and links the pictures.
Every hyper-parameter is the same for every model (no model is tuned): the point is the
comparison, not the best number of any one.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

MODELS = ["transformer", "titans-lmm", "titans-mac", "hope-attention", "hope"]


@dataclass
class Settings:
    """The knobs; `--quick` shrinks every one of them."""

    params: int = 500_000
    context: int = 128
    batch_size: int = 8
    tokens: int = 262_144  # per model per corpus: 256 steps of 8 x 128
    lr: float = 2.0e-3
    eval_every: int = 32
    eval_max_tokens: int | None = None  # None: the whole validation split
    code_bytes: int = 1_000_000
    passkey_tokens: int = 131_072
    passkey_n: int = 20  # examples per distance, scored
    passkey_models: list[str] = field(default_factory=lambda: list(MODELS))
    stream_tokens: int = 16_384
    models: list[str] = field(default_factory=lambda: list(MODELS))


QUICK = Settings(
    params=150_000,
    context=64,
    tokens=8 * 64 * 24,
    eval_every=8,
    eval_max_tokens=4096,
    code_bytes=200_000,
    passkey_tokens=8 * 64 * 16,
    passkey_n=4,
    passkey_models=["transformer", "titans-lmm", "hope"],
    stream_tokens=1024,
)


class Log:
    """Runs nlc commands in this process, each one's stdout and stderr into its own log file,
    and keeps how long each took and whether it failed (a failure is reported, not fatal)."""

    def __init__(self, out: Path):
        self.folder = out / "logs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.steps: list[dict] = []

    def nlc(self, name: str, *argv: str) -> bool:
        from nlc.cli import main

        t0 = time.perf_counter()
        path = self.folder / f"{name}.log"
        with open(path, "w") as log, contextlib.redirect_stdout(log):
            with contextlib.redirect_stderr(log):
                print("$ nlc " + " ".join(argv), flush=True)
                try:
                    code = main(list(argv))
                except SystemExit as exc:  # argparse
                    code = exc.code
        seconds = time.perf_counter() - t0
        self.steps.append({"name": name, "code": code, "seconds": round(seconds, 1)})
        mark = "ok" if code == 0 else f"FAILED (exit {code}, see {path})"
        print(f"  {name:<40} {seconds:7.1f}s  {mark}", flush=True)
        return code == 0


def parameters(spec: str, d_model: int, context: int) -> int:
    from nlc.pipeline import run_front
    from nlc.report import parameter_counts

    result = run_front(ROOT / "specs" / f"{spec}.yaml", overrides=overrides(d_model, context))
    return parameter_counts(result.full)["trained"]


def overrides(d_model: int, context: int) -> list[str]:
    return [f"model.d_model={d_model}", f"model.context={context}"]


def matched_width(spec: str, target: int, context: int) -> tuple[int, int]:
    """The d_model (a multiple of 8: 4 heads of an even width, for rotary positions) whose
    parameter count is closest to `target`; the count grows with the width, so bisect."""
    lo, hi = 1, 128  # in units of 8: widths 8 .. 1024
    while lo < hi:
        mid = (lo + hi) // 2
        if parameters(spec, 8 * mid, context) < target:
            lo = mid + 1
        else:
            hi = mid
    best = min({max(1, lo - 1), lo}, key=lambda u: abs(parameters(spec, 8 * u, context) - target))
    return 8 * best, parameters(spec, 8 * best, context)


def python_corpus(out: Path, size: int) -> Path:
    """The first `size` bytes of the standard library's Python files, in sorted path order
    (a second corpus unlike Shakespeare, on every machine that runs this script: nothing is
    downloaded). Files that are not UTF-8 are skipped."""
    path = out / "data" / "python-stdlib.txt"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, total = [], 0
    for file in sorted(stdlib.rglob("*.py")):
        if "site-packages" in file.parts or total >= size:
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(f"# file: {file.relative_to(stdlib)}\n{text}\n")
        total += len(parts[-1].encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(parts).encode()[:size])
    return path


def train_args(s: Settings, spec: str, width: int, run: Path, tokens: int) -> list[str]:
    steps = max(1, tokens // (s.batch_size * s.context))
    sets = [x for o in overrides(width, s.context) for x in ("--set", o)]
    return [
        "train", str(ROOT / "specs" / f"{spec}.yaml"), "--out", str(run), *sets,
        "--steps", str(steps), "--batch-size", str(s.batch_size), "--lr", str(s.lr),
        "--warmup", str(max(1, steps // 20)), "--eval-every", str(min(s.eval_every, steps)),
        "--eval-iters", "2", "--device", "cpu", "--seed", "1337",
    ]  # fmt: skip


def language_modelling(s: Settings, log: Log, out: Path, widths: dict, corpus: str, data):
    """Train every model on one corpus for the same tokens; eval each on its whole
    validation split; compare them."""
    runs = []
    for spec in s.models:
        run = out / "runs" / corpus / spec
        argv = train_args(s, spec, widths[spec][0], run, s.tokens)
        if data is not None:
            argv += ["--data", str(data)]
        if not log.nlc(f"train-{corpus}-{spec}", *argv):
            continue
        limit = [] if s.eval_max_tokens is None else ["--max-tokens", str(s.eval_max_tokens)]
        log.nlc(f"eval-{corpus}-{spec}", "eval", str(run), "--json", *limit)
        runs.append(run)
    if runs:
        png = out / f"compare-{corpus}.png"
        log.nlc(f"compare-{corpus}", "compare", *map(str, runs), "--png", str(png))
    return runs


def passkey(s: Settings, log: Log, out: Path, widths: dict):
    """Train on passkeys inside the context; score at distances up to 8x the context."""
    ctx = s.context
    train_file, test_file = out / "data" / "passkey-train.jsonl", out / "data" / "passkey.jsonl"
    inside = ",".join(str(d) for d in range(16, ctx - 8 + 1, 8))
    beyond = ",".join(str(d) for d in (16, ctx // 2, ctx, 2 * ctx, 4 * ctx, 8 * ctx))
    # enough training examples that windows rarely repeat: ~ tokens / example length
    n_train = max(20, s.passkey_tokens // (ctx * len(inside.split(","))))
    log.nlc(
        "passkey-make-train",
        "data",
        "make",
        "passkey",
        "-o",
        str(train_file),
        "--seed",
        "1",
        "--n",
        str(n_train),
        "--distances",
        inside,
        "--prefix",
        str(ctx // 4),
    )
    log.nlc("passkey-make-test", "data", "make", "passkey", "-o", str(test_file),
            "--seed", "2", "--n", str(s.passkey_n), "--distances", beyond)  # fmt: skip
    runs = []
    for spec in s.passkey_models:
        run = out / "runs" / "passkey" / spec
        argv = train_args(s, spec, widths[spec][0], run, s.passkey_tokens)
        if log.nlc(f"train-passkey-{spec}", *argv, "--data", str(train_file)):
            log.nlc(f"eval-passkey-{spec}", "eval", str(run), "--task", str(test_file), "--json")
            runs.append(run)
    if runs:
        png = out / "compare-passkey.png"
        log.nlc("compare-passkey", "compare", *map(str, runs), "--png", str(png))
    return runs


def long_stream(s: Settings, log: Log, out: Path, widths: dict):
    """A Titans LMM whose memory persists across training sequences, streamed far past its
    context: the loss by position (RUN/stream.png)."""
    spec = "titans-lmm"
    run = out / "runs" / "stream" / f"{spec}-persist"
    argv = train_args(s, spec, widths[spec][0], run, s.tokens)
    argv += ["--set", "layers.memory.update.persist=true"]
    if log.nlc("train-stream-persist", *argv):
        png = str(out / "stream-persist.png")
        limit = ["--max-tokens", str(s.stream_tokens)]
        log.nlc("eval-stream-persist", "eval", str(run), "--stream", "--json", *limit, "--png", png)
        return run
    return None


def parse(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "runs" / "evidence"), help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke test")
    p.add_argument("--params", type=int, help="target parameters per model")
    p.add_argument("--context", type=int, help="tokens per training sequence")
    p.add_argument("--tokens", type=int, help="training tokens per model per corpus")
    p.add_argument("--passkey-tokens", type=int, help="training tokens per passkey model")
    p.add_argument("--models", help="comma-separated presets (default: all five)")
    p.add_argument("--passkey-models", help="comma-separated presets for the passkey step")
    p.add_argument("--skip", default="", help="steps to skip: shakespeare,python,passkey,stream")
    args = p.parse_args(argv)
    s = QUICK if args.quick else Settings()
    for name in ("params", "context", "tokens", "passkey_tokens"):
        if getattr(args, name) is not None:
            setattr(s, name, getattr(args, name))
    if args.models:
        s.models = args.models.split(",")
        s.passkey_models = [m for m in s.passkey_models if m in s.models]
    if args.passkey_models:
        s.passkey_models = args.passkey_models.split(",")
    return s, args


def machine() -> dict:
    import os

    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    from evidence_report import write_report

    s, args = parse(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out)
    skip = set(args.skip.split(",")) - {""}
    t0 = time.perf_counter()
    print(f"evidence -> {out} ({'quick' if args.quick else 'full'} settings)", flush=True)
    specs = sorted(set(s.models) | set(s.passkey_models) | ({"titans-lmm"} - skip))
    widths = {spec: matched_width(spec, s.params, s.context) for spec in specs}
    for spec, (width, count) in widths.items():
        print(f"  {spec:<16} d_model {width:>4}  {count:>9,} parameters", flush=True)
    results = {"settings": asdict(s), "machine": machine(), "widths": widths, "runs": {}}
    if "shakespeare" not in skip:
        results["runs"]["shakespeare"] = language_modelling(
            s, log, out, widths, "shakespeare", None
        )
    if "python" not in skip:
        code = python_corpus(out, s.code_bytes)
        results["runs"]["python"] = language_modelling(s, log, out, widths, "python", code)
    if "passkey" not in skip:
        results["runs"]["passkey"] = passkey(s, log, out, widths)
    if "stream" not in skip:
        run = long_stream(s, log, out, widths)
        results["runs"]["stream"] = [run] if run else []
    results["steps"] = log.steps
    results["seconds"] = round(time.perf_counter() - t0, 1)
    report = write_report(out, results, quick=args.quick)
    failed = [x["name"] for x in log.steps if x["code"] != 0]
    print(
        f"done in {results['seconds']:.0f}s: {report}" + (f"; FAILED: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
