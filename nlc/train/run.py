"""`nlc train`: compile a spec into RUN/code, train it, then draw and summarise the run.

The emitted train.py does the training (one process: imported and called here; several:
launched by torchrun), so a run trained by `nlc train` and one trained by hand from the
emitted folder are the same program. Bad data or a bad checkpoint prints one line and
returns 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nlc_runtime.training.flags import TRAIN_FLAGS


def _fail(message: str) -> int:
    print(f"nlc train: error: {message}", file=sys.stderr)
    return 2


def _saved_options(path: Path) -> dict:
    """The options a run was trained with; a missing or unreadable file (an older run killed
    while writing it) gives none, with a warning: the emitted script's defaults apply."""
    if not path.exists():
        return {}
    try:
        options = json.loads(path.read_text())
        if isinstance(options, dict):
            return options
    except (OSError, ValueError):
        pass
    print(f"nlc train: warning: {path} is unreadable; its options are not reused", file=sys.stderr)
    return {}


def script_args(args, run: Path) -> list[str]:
    """The emitted train.py's command line for the options given to `nlc train`. The options
    of a run are kept in RUN/options.json, so `--resume RUN` continues with the same batch,
    context, data... unless given again."""
    saved = run / "options.json"
    options = _saved_options(saved) if args.resume else {}
    # the emitted train.py's own options (flag, type, help); None is "not given": the
    # emitted script's default (the spec's `train` section) applies
    for flag, _, _ in TRAIN_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            options[flag] = value
    once = options.pop("--stop-after", None)  # applies to this invocation only
    tmp = saved.with_name(f".{saved.name}.tmp")  # atomic: a kill never leaves it torn
    tmp.write_text(json.dumps(options, indent=2) + "\n")
    os.replace(tmp, saved)
    argv = ["--out", str(run)]
    for flag, value in options.items():
        if isinstance(value, bool):  # a switch: --stream / --no-stream
            argv.append(flag if value else f"--no-{flag[2:]}")
        else:
            argv += [flag, str(value)]
    if once is not None:
        argv += ["--stop-after", str(once)]
    if args.compile is not None:
        argv.append("--compile" if args.compile else "--no-compile")
    if getattr(args, "recompute", None):
        argv.append("--recompute")
    if args.resume:
        argv.append("--resume")
    return argv


def prepare(args) -> tuple[Path, Path] | str:
    """The run folder and the spec it trains (compiled into RUN/code), or an error."""
    from nlc.codegen.emit import compile_spec

    if args.resume and args.set:
        return "--set edits the spec of a new run; a resumed run trains its code/spec.yaml"
    if args.resume:
        run = Path(args.resume)
        spec = run / "code" / "spec.yaml"
        if not (run / "code" / "train.py").exists():
            return f"{run}: not a run folder (no code/train.py)"
        return run, spec  # keep the code the checkpoint was trained with
    if not args.spec:
        return "give a SPEC to train, or --resume RUN"
    spec = Path(args.spec)
    if not spec.exists():
        return f"{spec}: no such spec file"
    run = Path(args.out) if args.out else Path("runs") / spec.stem
    if (run / "ckpt").exists():
        return f"{run} already holds a checkpoint: continue it with --resume {run}, or pass --out"
    compile_spec(spec, run / "code", args.set)
    return run, run / "code" / "spec.yaml"  # the spec as compiled (with any --set)


def check_data(args, run: Path) -> None:
    """Read and split the data as the workers will (a BPE tokenizer is trained and saved here,
    once, for them to load), and refuse what no worker could run; raises DataError."""
    from nlc_runtime.training.checkpoint import recorded_tokenizer
    from nlc_runtime.training.data import DataError, load_tokens, make_tokenizer, split_tokens

    from nlc.train.emitted import load_module

    module = load_module(run / "code", "model")
    if module.Model.uses_targets and args.parallel == "fsdp":  # train.py refuses it too
        raise DataError("--parallel fsdp does not support the CMS signal lm yet (use ddp)")
    cfg = module.Config()
    recorded = recorded_tokenizer(run / "ckpt") if args.resume else (None, None)
    tokenizer = make_tokenizer(args.tokenizer or "byte", run, cfg.vocab_size, *recorded)
    tokens = load_tokens(args.data, tokenizer, cfg.vocab_size, cache=run / "tokens")
    fraction = 0.1 if args.val_fraction is None else args.val_fraction
    split_tokens(tokens, args.context or cfg.context, fraction, args.data or "bundled corpus")


def run_training(args, run: Path) -> int:
    from nlc_runtime.training.checkpoint import CheckpointError
    from nlc_runtime.training.data import DataError

    from nlc.train.emitted import load_module

    argv = script_args(args, run)
    script = run / "code" / "train.py"
    if args.nproc > 1:
        try:  # bad data: one clear line here, not a failure report from every worker
            check_data(args, run)
        except (DataError, CheckpointError) as err:
            return _fail(str(err))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += ["--nproc_per_node", str(args.nproc), str(script), *argv]
        proc = subprocess.Popen(cmd)
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # Ctrl-C reached the workers too: let them checkpoint
                print("nlc train: waiting for the workers to write a checkpoint", file=sys.stderr)
    train = load_module(run / "code", "train")
    try:
        train.main(argv)
    except (DataError, CheckpointError) as err:
        return _fail(str(err))
    except FloatingPointError as err:
        print(f"nlc train: error: {err} (try a lower --lr)", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        print(
            "nlc train: error: out of memory (try a smaller --batch-size or --context; the "
            f"last checkpoint in {run / 'ckpt'} is kept): {str(err).splitlines()[0][:200]}",
            file=sys.stderr,
        )
        return 1
    return 0


def _out_of_memory(err: BaseException) -> bool:
    """An allocation the machine could not make (torch's CPU allocator raises a RuntimeError,
    CUDA's torch.OutOfMemoryError, a RuntimeError too)."""
    if isinstance(err, MemoryError):
        return True
    text = str(err)
    return type(err).__name__ == "OutOfMemoryError" or "can't allocate memory" in text


def train_command(args) -> int:
    from nlc.pipeline import run_front
    from nlc.train.plot import write_loss_plot
    from nlc.viz import write_levels_svg

    prepared = prepare(args)
    if isinstance(prepared, str):
        return _fail(prepared)
    run, spec = prepared
    front = run_front(spec)
    write_levels_svg(front, run / "levels.svg")
    code = run_training(args, run)
    metrics = run / "metrics.jsonl"
    if code != 0 or not metrics.exists():
        return code
    plot = write_loss_plot(metrics, run / "loss.png", f"{front.full.name}: loss")
    print(f"run folder {run}:")
    print(f"  loss curve   {plot}")
    print(f"  levels       {run / 'levels.svg'}")
    print(f"  metrics      {metrics}")
    print(f"  checkpoint   {run / 'ckpt'} (continue: nlc train --resume {run} --steps N)")
    print(f"  code         {run / 'code'} (python train.py --help)")
    print(f"  summary      {run / 'summary.json'}")
    return 0
