"""Everything of a training run but its loop: what the emitted train.py builds before the loop
(data, model, optimizer, resumed state, compilation) and calls from it (log a step, evaluate,
checkpoint, stop, summarise). train.py keeps the loop itself, readable top to bottom.

The order of the set-up is part of the numbers: torch's seed, then the data (rank 0 first: it
trains and saves a BPE tokenizer the others load), the model, the checkpoint's weights, the
DDP / FSDP2 wrapping, and only then the optimizer (sharding replaces the parameters)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import torch

from nlc_runtime.exec.state import flush_subnormals
from nlc_runtime.training import compile_mode, distributed
from nlc_runtime.training.checkpoint import (
    load_rank_state,
    recorded_tokenizer,
    resume_checkpoint,
    save_checkpoint,
    save_rank_state,
)
from nlc_runtime.training.feed import Carry, long_periods, read_source
from nlc_runtime.training.interrupt import StopFlag
from nlc_runtime.training.report import Metrics, Progress
from nlc_runtime.training.summary import (
    Totals,
    closing_line,
    perplexity,
    summary,
    write_summary,
)
from nlc_runtime.training.tokenizer import make_tokenizer, tokenizer_record
from nlc_runtime.training.validation import estimate_loss


def weights_metadata(config, spec_file: Path, tokenizer) -> dict[str, str]:
    """The safetensors header of every checkpoint: the weights say what they are (the model's
    Config, the spec beside train.py, and the tokenizer they learned, which --resume checks)."""
    about = {"nlc_config": json.dumps(dataclasses.asdict(config), sort_keys=True)}
    if spec_file.exists():
        about["nlc_spec"] = spec_file.read_text(encoding="utf-8")
    if tokenizer_record(tokenizer) is not None:
        about["nlc_tokenizer"] = tokenizer_record(tokenizer)
    return about


class Session:
    """One invocation of train.py. Attributes the loop uses: `model` (the weights), `step_model`
    (the model as called: wrapped for DDP / FSDP2, compiled as asked), `optimizer`, `feed` (the
    training batches), `carry` (the in-context state between calls), `autocast`, `wrapped`
    (for `distributed.gradient_sync`), `start` (the first step of this invocation)."""

    def __init__(
        self,
        args,
        dist: distributed.Dist,
        device: str,
        config_class: type,
        model_class: type,
        persistent_state: Callable,
        make_optimizer: Callable,
        persist: bool,
        val_seed: int,
        spec_file: Path,
    ):
        self.args, self.dist, self.device = args, dist, device
        self.persistent_state, self.persist, self.val_seed = persistent_state, persist, val_seed
        torch.manual_seed(args.seed)
        flush_subnormals()  # memories decaying along streams: subnormal floats are slow on CPUs
        self.cuda = cuda = device.startswith("cuda")
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        cfg = config_class(recompute=args.recompute, schedule=args.schedule)
        args.context = args.context or cfg.context
        # one call of the model: a window, or under --stream BPTT_WINDOWS consecutive windows
        window = args.context * (args.bptt_windows if args.stream else 1)
        self.out = out = Path(args.out)
        tokenizer, self.source = self._read_data(cfg, window)
        model = model_class(cfg).to(device=device, dtype=getattr(torch, args.dtype))
        self.model = model
        self.source.check(model)  # rows restarting alone need every period to divide the window
        self.n_params = sum(p.numel() for p in model.parameters())
        # the training batches (windows, streams or task examples); their cursor is checkpointed
        groups = args.accumulate if args.stream else 1  # under --stream each micro-step its rows
        self.feed = self.source.make("train", args.batch_size,
                                     torch.Generator().manual_seed(args.seed), dist.rank,
                                     dist.world, groups)  # fmt: skip
        self.carry = Carry(model, persistent_state, args.stream, persist)  # state between calls
        self.start, self.totals = 0, Totals()
        # resuming: the newest complete save (None: the run has none yet, it starts at step 0)
        ckpt = resume_checkpoint(out / "ckpt", model, map_location=device) if args.resume else None
        # DDP / FSDP2 under torchrun; the optimizer comes after: sharding replaces the parameters
        self.wrapped = distributed.wrap(model, dist, device, fsdp=args.parallel == "fsdp")
        self.optimizer = make_optimizer(model, args.lr, device)
        if ckpt is not None:
            self._restore(ckpt)
        self.step_model, compiling = compile_mode.apply(
            model, self.wrapped, args.compile, args.compile_mode, cuda
        )
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)
        self.metrics = Metrics(out, self.start, dist.main, wandb=args.wandb, config=vars(args))
        self.progress = Progress(self.start, args.steps, dist.main)
        self.ckpt_every = args.ckpt_every or args.eval_every
        self.tokens_per_step = (
            args.batch_size * dist.world * args.accumulate * self.source.row_tokens
        )
        self._announce(compiling, window)
        self.about = weights_metadata(cfg, spec_file, tokenizer)
        self.stop_flag: StopFlag | None = None

    def _read_data(self, cfg, window: int):
        """The tokenizer and the data; rank 0 first: it trains a BPE tokenizer (and saves it)
        and writes the token cache before the others read them. Resuming, the tokenizer must
        be the one the checkpoint records (refused before a missing BPE file is retrained)."""
        args, dist, out = self.args, self.dist, self.out
        recorded = recorded_tokenizer(out / "ckpt") if args.resume else (None, None)
        if dist.main:
            out.mkdir(parents=True, exist_ok=True)
            tokenizer = make_tokenizer(args.tokenizer, out, cfg.vocab_size, *recorded)
            source = read_source(args, tokenizer, cfg.vocab_size, out / "tokens", window)
        distributed.barrier(dist)
        if not dist.main:
            tokenizer = make_tokenizer(args.tokenizer, out, cfg.vocab_size, *recorded)
            source = read_source(args, tokenizer, cfg.vocab_size, out / "tokens", window)
        return tokenizer, source

    def _restore(self, ckpt: dict) -> None:
        """Continue where the checkpoint left: optimizer, data cursor, random generators,
        carried memories (under DDP each rank's own) and totals."""
        distributed.load_optimizer_state(self.model, self.optimizer, ckpt["optimizer"])
        self.feed.load_state_dict(ckpt["feed"] if "feed" in ckpt else {"rng": ckpt["data_rng"]})
        torch.set_rng_state(ckpt["cpu_rng"])
        if self.cuda and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"])
        self.start = ckpt["step"]
        memory = ckpt["memory"]
        if self.dist.enabled:  # under DDP every rank carries the memories of its own sequences
            memory = load_rank_state(self.out / "ckpt", self.dist.rank, self.start, self.device)
            memory = memory or ckpt["memory"]
        self.carry.load_state_dict(memory)
        self.totals = Totals.from_checkpoint(ckpt)

    def _announce(self, compiling: str | None, window: int) -> None:
        args, say = self.args, self.progress.say
        if compiling:
            say(compiling)
        say(
            f"training {self.n_params / 1e6:.2f}M parameters on {self.device} "
            f"({distributed.describe(self.wrapped, self.dist)}): "
            f"steps {self.start}..{args.steps}; {self.source.about}"
        )
        if self.source.kind == "windows" and long_periods(self.model, window):
            say(
                f"warning: period(s) {', '.join(map(str, long_periods(self.model, window)))} "
                f"never fire inside a window of {window} tokens: their in-context learning "
                "reaches no loss (--stream carries the state from window to window)"
            )

    def say(self, text: str) -> None:
        self.progress.say(text)

    # --- called from the loop ----------------------------------------------------------------
    def log_step(self, step: int, loss: float, lr: float, seconds: float) -> float:
        """Count a finished optimizer step (`loss`: this process's mean over its micro-steps,
        `seconds`: its time) and log it; the loss averaged over the processes."""
        loss = distributed.mean(loss, self.dist, self.device)
        if not math.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss} at step {step}")
        t = self.totals
        t.train_time += seconds
        t.tokens += self.tokens_per_step
        tok_s = (step - self.start) * self.tokens_per_step / max(t.train_time, 1e-9)
        # seconds: training time so far (resumes included), for loss-against-time curves
        self.metrics.log(step=step, loss=loss, lr=lr, tokens=t.tokens, tok_per_s=tok_s,
                         seconds=round(t.train_time, 3))  # fmt: skip
        self.progress.update(step, loss, tok_s, t.train_time)
        return loss

    def evaluate(self, step: int) -> float:
        """The validation loss at `step`, logged and printed."""
        val = estimate_loss(self.model, self.source, self.args, self.dist, self.device,
                            self.autocast, self.persistent_state, self.val_seed)  # fmt: skip
        if not math.isfinite(val):
            raise FloatingPointError(f"validation loss is {val} at step {step}")
        self.totals.validated(step, val)
        self.metrics.log(step=step, val_loss=val, val_ppl=perplexity(val))
        self.say(f"step {step}: val loss {val:.4f}, perplexity {perplexity(val):.2f}")
        return val

    def checkpoint(self, step: int) -> None:
        """Save OUT/ckpt at `step`: the weights (with `weights_metadata`) and everything a
        resume needs; under DDP each rank's own carried memories beside them."""
        args, dist = self.args, self.dist
        if dist.enabled and (self.persist or args.stream):
            save_rank_state(self.out / "ckpt", dist.rank, step, self.carry.state_dict())
        # gathered on every rank (FSDP2 shards them), written by rank 0
        weights = distributed.full_weights(self.model)
        optimizer_state = distributed.optimizer_state(self.model, self.optimizer)
        if not dist.main:
            return
        extra = {"cuda_rng": torch.cuda.get_rng_state()} if self.cuda else {}
        state = {
            "step": step,
            "steps": args.steps,
            "optimizer": optimizer_state,
            "feed": self.feed.state_dict(),
            "cpu_rng": torch.get_rng_state(),
            "memory": self.carry.state_dict(),  # the in-context state carried on
            **dataclasses.asdict(self.totals),  # tokens, train_time, first/best val, best step
            **extra,
        }
        save_checkpoint(self.out / "ckpt", weights, state, metadata=self.about)

    def __enter__(self) -> Session:
        """Inside `with session:` Ctrl-C or SIGTERM sets a flag (`stop_requested`) instead of
        killing the step; leaving restores the handlers and closes the metrics."""
        self.stop_flag = StopFlag()
        return self

    def __exit__(self, *exc) -> None:
        if self.stop_flag is not None:
            self.stop_flag.restore()
        self.metrics.close()

    def stop_requested(self, step: int) -> bool:
        """Stop after `step`: a signal reached any process, or --stop-after steps are done."""
        signalled = self.stop_flag is not None and self.stop_flag.set
        return distributed.any_flag(signalled, self.dist, self.device) or (
            self.args.stop_after is not None and step - self.start >= self.args.stop_after
        )

    def finish(self, losses: list[float]) -> None:
        """Write summary.json and the closing line (rank 0); `losses`: this invocation's."""
        if not self.dist.main:
            return
        record = summary(self.totals, self.n_params, self.start + len(losses), losses,
                         self.args.steps)  # fmt: skip
        write_summary(self.out, record)
        self.say(closing_line(record, self.totals, self.out))
