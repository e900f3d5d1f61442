"""`nlc eval RUN`: the loss of a trained run over every token of a text, without sampling.

Two ways to read the text:

- windows (default): the text is cut into consecutive windows of context + 1 tokens that
  overlap by one token, each window a new sequence (state None). This is the number the
  training loop's validation loss estimates from random windows, but over every token once, so
  two runs compare on exactly the same predictions.
- stream (`--stream`): the whole text is ONE sequence fed in pieces, the state each call
  returns passed to the next, so memories keep learning and attention slides its window past
  the training context. The loss by position (0-256, 256-1K, 1K-4K, ... tokens into the
  stream) shows whether the memory still helps beyond the training window; RUN/stream.png
  draws it.

Both report the mean cross-entropy per predicted token (nats), perplexity, bits per token and
bits per byte (of the UTF-8 text the predicted tokens decode to). A third, `--task`, scores a
recall task instead (`nlc.tasks`: accuracy on the answer tokens by distance). Every result is
also written to RUN/eval/NAME.json (`results.py`), where `nlc compare` finds it. Bad input --
a missing run, a bad checkpoint, data or task file, a non-positive number -- prints one line
and returns 2.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from nlc.limits import MAX_BATCH, MAX_EVAL_TOKENS, MAX_PIECE

PROG = "nlc eval"
VAL_FRACTION = 0.1  # `nlc train`'s default held-out tail
FIRST_BUCKET = 256  # stream buckets: [0, 256), then each 4 times longer than the one before


class EvalError(Exception):
    """Bad input to `nlc eval`: one line for the user, exit code 2."""


@dataclass
class Loaded:
    """A run ready to evaluate: the model (weights loaded, eval mode) and its tokenizer."""

    run: Path
    model: object  # torch.nn.Module; typed loosely so this module imports without torch
    context: int
    vocab_size: int
    tokenizer: object
    uses_targets: bool


@dataclass
class Result:
    """Summed losses of the predicted tokens (and, in stream mode, each token's loss)."""

    tokens: int
    nats: float
    bytes: int = 0  # UTF-8 bytes of the predicted text, counted once the losses are in
    per_token: object = None  # float64 tensor of the losses in stream order, stream mode only

    @property
    def loss(self) -> float:
        return self.nats / self.tokens

    @property
    def perplexity(self) -> float:
        # exp overflows a float above ~709 nats: a diverged model, say so with inf
        return math.exp(self.loss) if self.loss < 700 else math.inf

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    @property
    def bits_per_byte(self) -> float:
        return self.nats / math.log(2) / self.bytes


def eval_command(args) -> int:
    from nlc.files import WriteError, describe
    from nlc.limits import LimitError
    from nlc.tasks.taskfile import TaskError
    from nlc.train.results import result_name, save_result

    try:
        check_flags(args)
        name = result_name(args)
        check_outputs(Path(args.run), args, name)  # before any work, as the flags
        loaded = load(Path(args.run), args.device, args.dtype)
        if args.frozen_cms:
            freeze_cms_steps(loaded)
        if args.task:
            report, table = task_eval(loaded, args, name)
        else:
            report, table = text_eval(loaded, args)
    except (EvalError, TaskError, LimitError, WriteError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as err:  # a path refused by the system (a name too long ...)
        print(f"{PROG}: error: {describe(err)}", file=sys.stderr)
        return 2
    saved = save_result(loaded.run, name, report)
    if saved is None:
        print(f"{PROG}: warning: cannot write {loaded.run / 'eval'}; not saved", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else table(report))
    if saved is not None and not args.json:
        print(f"saved: {saved}")
    return 0


def default_png(run: Path, args, name: str) -> Path | None:
    """Where the plot goes when --png is not given (None: no plot in this mode)."""
    from nlc.train.results import FOLDER

    if args.task:
        return run / FOLDER / f"{name}.png"
    return run / "stream.png" if args.stream else None


def check_outputs(run: Path, args, name: str) -> None:
    """What `nlc eval` will write, checked before the run is loaded: RUN/eval/NAME.json and a
    default plot lie inside RUN (a symbolic link out of it is refused), and every target is a
    regular file or missing (`nlc.files`); a plot replaces only a PNG."""
    from nlc.files import PNG, check_target
    from nlc.train.results import check_result_path

    if not run.is_dir():  # no run: `load` says so
        return
    check_result_path(run, name)
    if args.png is not None:
        check_target(args.png, replaces=PNG)
    elif (png := default_png(run, args, name)) is not None:
        check_target(png, inside=run, replaces=PNG)


def text_eval(loaded: Loaded, args):
    """Loss over every token of a text: the report and the function that renders it."""
    tokens, data = eval_tokens(loaded, args)
    if args.stream:
        result = stream_losses(loaded, tokens, args.piece or loaded.context)
    else:
        result = window_losses(loaded, tokens, args.batch_size or 8)
    result.bytes = count_bytes(loaded.tokenizer, tokens[1:])
    report = make_report(loaded, args, data, result)
    if args.stream:
        png = Path(args.png or default_png(loaded.run, args, ""))
        report["png"] = str(write_stream_plot(report, png))
    return report, render_table


def task_eval(loaded: Loaded, args, name: str):
    """Accuracy on a recall task by distance (`nlc.tasks`), plotted to RUN/eval/NAME.png."""
    from nlc.tasks.evaluate import task_report
    from nlc.tasks.report import (
        render_niah_table,
        render_task_table,
        write_niah_plot,
        write_task_plot,
    )

    piece = args.piece or loaded.context
    seed, n, options = task_options(args)
    if args.task == "niah":
        options = {**options, **niah_options(loaded, options)}
    report = task_report(
        loaded, args.task, piece, args.batch_size or 8, progress_examples, seed, n, options
    )
    png = Path(args.png or default_png(loaded.run, args, name))
    niah = "cells" in report  # needle in a haystack: a heat map of length by depth
    report["png"] = str((write_niah_plot if niah else write_task_plot)(report, png))
    render = render_niah_table if niah else render_task_table
    return report, lambda r: render(r) + f"\nplot: {r['png']}"


def niah_options(loaded: Loaded, options: dict) -> dict:
    """What `--task niah` is generated for: the run's context and tokenizer, and its held-out
    text (the split `nlc eval` scores by default) as the haystack when it holds enough tokens
    (else the generator falls back to the bundled corpus)."""
    from nlc.tasks import niah

    lengths = options.get("lengths", niah.OPTIONS["lengths"][1])
    niah.check_options(lengths, options.get("depths", [0]), options.get("needle", "passkey"))
    found = {"context": loaded.context, "tokenizer": loaded.tokenizer}
    need = niah.needed_tokens(lengths, loaded.context)
    try:
        tokens, data = eval_tokens(loaded, SimpleNamespace(data=None, split=None, max_tokens=None))
    except EvalError:
        return found
    # enough tokens for varied offsets, not a whole large corpus decoded
    text = niah.clean(loaded.tokenizer.decode(tokens[: 4 * need + (1 << 16)].tolist()))
    if len(loaded.tokenizer.encode(text)) >= need:
        found["haystack"] = niah.Haystack(data, text)
    return found


TASK_FLAGS = ("n", "seed", "lengths", "depths", "needle")  # options of a generated task
NIAH_FLAGS = ("lengths", "depths", "needle")


def task_options(args) -> tuple[int | None, int | None, dict]:
    """`--seed`, `--n` and the niah options, parsed and checked against the bounds of `nlc
    data make` (`nlc.limits`; one line, exit 2, before the run is loaded)."""
    from nlc.limits import check_task
    from nlc.tasks.cli import _parse

    try:
        seed = None if args.seed is None else _parse("--seed", "int", args.seed)
        n = None if args.n is None else _parse("--n", "int", args.n)
        options = {}
        for flag in NIAH_FLAGS:
            text = getattr(args, flag, None)
            if text is not None:
                options[flag] = _parse(f"--{flag}", "str" if flag == "needle" else "ints", text)
    except ValueError as err:
        raise EvalError(str(err)) from None
    if n is not None and n <= 0:
        raise EvalError(f"--n must be a positive integer (got {n})")
    if options:
        from nlc.tasks import niah

        niah.check_options(
            options.get("lengths", [1]),
            options.get("depths", [0]),
            options.get("needle", "passkey"),
        )
    check_task(n, options)
    return seed, n, options


# `nlc eval`'s numeric flags and their bounds (`nlc.limits`)
NUMBER_FLAGS = {"piece": MAX_PIECE, "batch_size": MAX_BATCH, "max_tokens": MAX_EVAL_TOKENS}


def check_flags(args) -> None:
    """Numbers must be positive and within their bounds, and flags that mean nothing in the
    chosen mode are refused rather than ignored (a user who passes --piece without --stream
    expects it to matter)."""
    from nlc.limits import check_int

    for flag, most in NUMBER_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            check_int("--" + flag.replace("_", "-"), value, 1, most)
    if args.task:
        for flag in ("data", "split", "max_tokens"):
            if getattr(args, flag) is not None:
                raise EvalError(f"--{flag.replace('_', '-')} does not apply to --task")
        if args.stream:
            raise EvalError("--task streams each example already; drop --stream")
        from nlc.tasks import TASKS

        for flag in TASK_FLAGS:
            if getattr(args, flag, None) is None:
                continue
            if args.task not in TASKS:
                raise EvalError(f"--{flag} applies to a generated task, not a task file")
            if flag in NIAH_FLAGS and args.task != "niah":
                raise EvalError(f"--{flag} applies to --task niah only")
        task_options(args)
        return
    for flag in TASK_FLAGS:
        if getattr(args, flag, None) is not None:
            raise EvalError(f"--{flag} applies to --task only")
    if not args.stream:
        for flag in ("piece", "png"):
            if getattr(args, flag) is not None:
                raise EvalError(f"--{flag} applies to --stream (and --task) only")
    elif args.batch_size is not None:
        raise EvalError("--batch-size applies to window mode only (--stream feeds one sequence)")


def load(run: Path, device: str, dtype: str) -> Loaded:
    """The run (`runfolder.load_run`), with the context it trained at (`nlc train --context`,
    else the spec's): the length of its windows."""
    from nlc.train.runfolder import RunError, load_run

    try:
        r = load_run(run, device, dtype)
    except RunError as err:
        raise EvalError(str(err)) from None
    context = recorded_option(run, "--context", r.config.context, int)
    return Loaded(run, r.model, context, r.config.vocab_size, r.tokenizer, r.uses_targets)


def freeze_cms_steps(loaded: Loaded) -> None:
    """`--frozen-cms`: the in-context steps of every CMS of the model at lr 0."""
    from nlc_runtime.memories.cms import CMS

    blocks = [m for m in loaded.model.modules() if isinstance(m, CMS)]
    if not blocks:
        raise EvalError(f"{loaded.run}: --frozen-cms: the model has no CMS")
    for block in blocks:
        block.freeze_steps()


def eval_tokens(loaded: Loaded, args) -> tuple[object, str]:
    """The tokens to evaluate (1-D) and a description of where they come from. Without --data:
    the data the run trained on (its recorded `--data`, else the bundled corpus), by default
    its held-out tail split exactly as `nlc train` split it (`--split all`: whole). A --data
    file is read whole unless `--split val` asks for its tail."""
    from nlc_runtime.training.data import DataError, load_tokens, split_tokens

    source = args.data if args.data is not None else recorded_option(loaded.run, "--data", None)
    name = source or "bundled corpus"
    split = args.split or ("all" if args.data is not None else "val")
    try:
        tokens = load_tokens(source, loaded.tokenizer, loaded.vocab_size)
        if split == "val":
            fraction = recorded_option(loaded.run, "--val-fraction", VAL_FRACTION, float)
            tokens = split_tokens(tokens, loaded.context, fraction, name)[1]
        if split == "val":
            data = f"{name} (val split)"
        else:
            data = name if args.data is not None else f"{name} (all)"
    except DataError as err:
        raise EvalError(str(err)) from None
    if args.max_tokens is not None:  # N predictions need N + 1 tokens (the first has no target)
        tokens = tokens[: args.max_tokens + 1]
    if len(tokens) < 2:
        raise EvalError(f"{data}: {len(tokens)} token(s): nothing to predict (need 2)")
    return tokens, data


def recorded_option(run: Path, flag: str, default, kind=str):
    """An option the run was trained with (RUN/options.json keeps the options given to `nlc
    train`): the validation split and context it used, so the default evaluation never scores
    text the model trained on and reads windows of the length it learned. A value that is not
    a `kind` (an edited or damaged file) is refused in one line."""
    try:
        value = json.loads((run / "options.json").read_text()).get(flag)
    except (OSError, ValueError, AttributeError):
        return default
    if value is None:
        return default
    if kind is not str and isinstance(value, str):  # written as text by hand: read the number
        try:
            value = kind(value)
        except ValueError:
            pass
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        ok = isinstance(value, str)
    elif kind is int:
        ok = ok and value == int(value) and value >= 1
    if not ok:
        raise EvalError(
            f"{run / 'options.json'}: {flag}: expected a {kind.__name__} (got {value!r})"
        )
    return kind(value)


def window_losses(loaded: Loaded, tokens, batch_size: int) -> Result:
    """Every target once: windows of context + 1 tokens overlapping by one, each a new
    sequence; the full windows `batch_size` at a time, then the shorter last one."""
    import torch

    ctx, n = loaded.context, len(tokens) - 1  # n predictions
    full = n // ctx
    # full windows are plain reshapes: inputs tokens[i*ctx : (i+1)*ctx], targets one later
    x_all = tokens[: full * ctx].long().view(full, ctx)
    y_all = tokens[1 : full * ctx + 1].long().view(full, ctx)
    batches = [
        (x_all[i : i + batch_size], y_all[i : i + batch_size]) for i in range(0, full, batch_size)
    ]
    if n % ctx:
        batches.append(
            (tokens[full * ctx : -1].long()[None], tokens[full * ctx + 1 :].long()[None])
        )
    nats, done = 0.0, 0
    with torch.no_grad():
        for x, y in batches:
            nats += float(forward_losses(loaded, x, y, None)[0].sum())
            done += y.numel()
            progress(done, n)
    return Result(tokens=n, nats=nats)


def stream_losses(loaded: Loaded, tokens, piece: int) -> Result:
    """The whole text as one sequence (batch 1) in pieces of `piece` tokens, each call
    continuing the state the previous one returned. Inputs are tokens[:-1] and targets
    tokens[1:], so every target is known: a learning (LM-signal) model is never handed -1."""
    import torch

    n = len(tokens) - 1
    losses = torch.empty(n, dtype=torch.float64)
    state = None
    with torch.no_grad():
        for start in range(0, n, piece):
            end = min(start + piece, n)
            x = tokens[start:end].long()[None]
            y = tokens[start + 1 : end + 1].long()[None]
            row, state = forward_losses(loaded, x, y, state)
            losses[start:end] = row[0]
            progress(end, n)
    return Result(tokens=n, nats=float(losses.sum()), per_token=losses)


def forward_losses(loaded: Loaded, x, y, state):
    """Per-token cross-entropy (B, T) in float64 and the state after the call. The targets go
    in only for a model that learns from them in context (`uses_targets`)."""
    import torch.nn.functional as F

    device = next(loaded.model.parameters()).device
    x, y = x.to(device), y.to(device)
    extra = {"targets": y} if loaded.uses_targets else {}
    logits, state = loaded.model(x, state, **extra)
    # per token in the model's dtype (a float64 copy of (B*T, vocab) logits would be large for
    # BPE vocabularies); the sums are float64
    losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    return losses.view(y.shape).double().cpu(), state


def progress(done: int, total: int) -> None:
    """`eval: N/M tokens` on a terminal's stderr, rewritten in place; silent when redirected."""
    if not sys.stderr.isatty():
        return
    end = "\n" if done >= total else ""
    print(f"\reval: {done:,}/{total:,} tokens", end=end, file=sys.stderr, flush=True)


def progress_examples(done: int, total: int) -> None:
    """`eval: N/M examples` on a terminal's stderr (task mode), like `progress`."""
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        print(f"\reval: {done:,}/{total:,} examples", end=end, file=sys.stderr, flush=True)


def count_bytes(tokenizer, targets) -> int:
    """UTF-8 bytes of the predicted text. Byte tokens are bytes; BPE tokens are decoded (once,
    all together, so merges that split a character decode as they were written)."""
    from nlc_runtime.training.data import ByteTokenizer

    if isinstance(tokenizer, ByteTokenizer):
        return len(targets)
    return max(1, len(tokenizer.decode(targets.tolist()).encode("utf-8")))


def buckets(per_token) -> list[dict]:
    """Mean loss by position in the stream: [0, 256), [256, 1K), [1K, 4K), ... (only the
    buckets that hold tokens; `end` is the bucket's nominal end)."""
    out, start, end, n = [], 0, FIRST_BUCKET, len(per_token)
    while start < n:
        part = per_token[start:end]
        out.append(
            {"start": start, "end": end, "tokens": len(part), "loss": float(part.sum()) / len(part)}
        )
        start, end = end, end * 4
    return out


def make_report(loaded: Loaded, args, data: str, result: Result) -> dict:
    """Everything printed, as one JSON-ready dict (the table is rendered from it)."""
    report = {
        "run": str(loaded.run),
        "data": data,
        "mode": "stream" if args.stream else "windows",
        "tokens": result.tokens,
        "loss": result.loss,
        "perplexity": result.perplexity,
        "bits_per_token": result.bits_per_token,
        "bits_per_byte": result.bits_per_byte,
        "context": loaded.context,
    }
    if args.frozen_cms:
        report["frozen_cms"] = True
    if args.stream:
        report["piece"] = args.piece or loaded.context
        report["buckets"] = buckets(result.per_token)
    else:
        report["batch_size"] = args.batch_size or 8
    return report


def short(n: int) -> str:
    """256, 1K, 4K, ..., 1M: bucket edges are powers of two."""
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def render_table(report: dict) -> str:
    if report["mode"] == "stream":
        mode = f"stream in pieces of {report['piece']}"
    else:
        mode = f"windows of {report['context']} (batch {report['batch_size']})"
    if report.get("frozen_cms"):
        mode += ", CMS steps frozen"
    lines = [
        f"run: {report['run']}  data: {report['data']}  tokens: {report['tokens']:,}  mode: {mode}",
        f"loss {report['loss']:.4f} nats/token  perplexity {report['perplexity']:.2f}  "
        f"bits/token {report['bits_per_token']:.3f}  bits/byte {report['bits_per_byte']:.3f}",
    ]
    if report["mode"] == "stream":
        lines.append(f"{'position':<12}{'tokens':>10}{'loss':>10}{'perplexity':>12}")
        for b in report["buckets"]:
            span = f"{short(b['start'])}-{short(b['end'])}"
            ppl = math.exp(b["loss"]) if b["loss"] < 700 else math.inf
            lines.append(f"{span:<12}{b['tokens']:>10,}{b['loss']:>10.4f}{ppl:>12.2f}")
        lines.append(f"plot: {report['png']}")
    return "\n".join(lines)


def write_stream_plot(report: dict, out: Path) -> Path:
    """Mean loss per position bucket on a log position axis, the training context marked: a
    curve that keeps falling right of the line is memory that helps past the window."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    spans = [(max(b["start"], 1), min(b["end"], report["tokens"])) for b in report["buckets"]]
    losses = [b["loss"] for b in report["buckets"]]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    # each bucket as a flat segment over the positions it covers, its point at the geometric
    # middle (the middle on a log axis); position 0 is drawn from 1 (log 0 is undefined)
    ax.hlines(losses, [a for a, _ in spans], [b for _, b in spans], color="#c33", lw=2, alpha=0.4)
    mids = [math.sqrt(a * b) for a, b in spans]
    ax.plot(mids, losses, "o-", color="#c33", lw=1, ms=4, label="mean loss of the bucket")
    ax.axvline(report["context"], color="#333", ls=":", lw=1.5, label="training context")
    ax.set_xscale("log")
    ax.set_xlabel("position in the stream (tokens)")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_title(f"{Path(report['run']).name}: streamed through {report['tokens']:,} tokens")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from nlc.files import save_figure

    return save_figure(fig, out, EvalError)
