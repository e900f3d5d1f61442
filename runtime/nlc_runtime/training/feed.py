"""What the emitted train.py feeds the model, and the state it carries between calls.

Three feeds, one interface (`next(group) -> (x, y, fresh)`, `state_dict`, `load_state_dict`):
- `Windows`: random windows of the text, each row a new sequence (`data.sample_batch`);
- `streams.Streams` (`--stream`): each row reads consecutive windows of one stream, its state
  carried from window to window;
- `examples.ExampleBatches` (a task file): one example per row, padded, never cut, the loss on
  the answer tokens (`--loss-on answers`, the default for task files).
Targets that carry no loss are -100 (`IGNORE`), cross_entropy's ignore_index.

`Carry` holds the in-context state between calls: under `--stream` the whole state of each
micro-step group's rows (detached: truncated backpropagation; `--bptt-windows K` makes a call
K windows long, so the graph spans K windows), with restarted rows reset
(`stream.reset_rows`); otherwise only what the spec persists (`persist: true`), as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nlc_runtime.exec.state import detach_state
from nlc_runtime.exec.stream import carried, reset_rows
from nlc_runtime.training.data import (
    DataError,
    load_documents,
    load_tokens,
    sample_batch,
    split_documents,
    split_tokens,
)
from nlc_runtime.training.streams import (
    IGNORE,
    Streams,
    check_window,
    cut_streams,
    document_streams,
    in_context_periods,
)

# a stream of the text, when --stream gives no --stream-length: long enough that a memory
# carried over it meets what `nlc eval --stream` measures (16K tokens)
DEFAULT_STREAM_LENGTH = 16384


class Windows:
    """Random windows of context tokens: every row a new sequence (fresh is None)."""

    def __init__(self, data, batch_size, window, generator, rank=0, world=1):
        self.data, self.batch, self.window = data, batch_size, window
        self.generator, self.rank, self.world = generator, rank, world

    def next(self, group: int = 0):
        x, y = sample_batch(
            self.data, self.batch, self.window, self.generator, self.rank, self.world
        )
        return x, y, None

    def state_dict(self) -> dict:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, saved: dict) -> None:
        self.generator.set_state(saved["rng"])


class Examples:
    """A task file's examples (`examples.ExampleBatches`) behind the feed interface: every row
    a new sequence."""

    def __init__(self, batches):
        self.batches = batches

    def next(self, group: int = 0):
        x, y = self.batches.next()
        return x, y, None

    def state_dict(self) -> dict:
        return self.batches.state_dict()

    def load_state_dict(self, saved: dict) -> None:
        self.batches.load_state_dict(saved)


@dataclass
class Source:
    """The data of a run, read and split once: text (`tokens`), documents (`starts` too) or a
    task file's examples; `make(part, generator, ...)` opens a feed over one split."""

    kind: str  # "windows" | "streams" | "examples"
    train: object
    val: object
    window: int
    about: str
    loss_on: str = "all"
    stream_length: int | None = None

    @property
    def row_tokens(self) -> int:
        """Tokens a batch row feeds per call: the window, or a task file's longest example."""
        return self.train.longest - 1 if self.kind == "examples" else self.window

    def check(self, model) -> None:
        """Refuse documents whose rows would restart off the periods' grid (`check_window`)."""
        if self.kind == "streams" and self.train[1] is not None:
            check_window(model, self.window)

    def make(self, part: str, batch_size, generator, rank=0, world=1, groups=1):
        data = self.train if part == "train" else self.val
        if self.kind == "examples":
            from nlc_runtime.training.examples import ExampleBatches

            batches = ExampleBatches(data, batch_size, generator, rank, world, loss_on=self.loss_on)
            return Examples(batches)
        if self.kind == "windows":
            return Windows(data, batch_size, self.window, generator, rank, world)
        tokens, starts = data
        if starts is None:
            streams = cut_streams(len(tokens), self.stream_length, self.window)
        else:
            streams = document_streams(starts, len(tokens))
        return Streams(tokens, streams, batch_size, self.window, generator, rank, world, groups)


def read_source(args, tokenizer, vocab_size: int, cache, window: int) -> Source:
    """Read the data `args` names (--data, --stream, --stream-length, --loss-on,
    --val-fraction) and split it; every refusal is a DataError (one line, exit 2)."""
    name = args.data or "bundled corpus"
    task = args.data is not None and _is_task_file(args.data)
    if task and not args.stream:
        from nlc_runtime.training.examples import load_examples

        examples = load_examples(args.data, tokenizer, vocab_size)
        train, val = examples.split(args.val_fraction)
        loss_on = args.loss_on or "answers"
        about = f"task file: {len(train.tokens)} / {len(val.tokens)} examples, loss on {loss_on}"
        return Source("examples", train, val, window, about, loss_on)
    if args.loss_on == "answers":
        raise DataError(f"--loss-on answers needs a task file as --data ({name} is not one)")
    if not args.stream:
        tokens = load_tokens(args.data, tokenizer, vocab_size, cache=cache)
        train, val = split_tokens(tokens, window, args.val_fraction, name)
        about = f"random windows: {len(train):,} train / {len(val):,} val tokens"
        return Source("windows", train, val, window, about)
    documents = None if args.stream_length else load_documents(args.data, tokenizer, vocab_size)
    if documents is not None:
        (train, train_starts), (val, val_starts) = split_documents(
            *documents, window, args.val_fraction, name
        )
        about = (
            f"streams: {len(train_starts):,} / {len(val_starts):,} documents "
            f"({len(train):,} / {len(val):,} tokens), windows of {window}"
        )
        return Source("streams", (train, train_starts), (val, val_starts), window, about)
    length = args.stream_length or -(-DEFAULT_STREAM_LENGTH // window) * window
    tokens = load_tokens(args.data, tokenizer, vocab_size, cache=cache)
    train, val = split_tokens(tokens, window, args.val_fraction, name)
    counts = [len(cut_streams(len(part), length, window)) for part in (train, val)]
    about = (
        f"streams of {length:,} tokens: {counts[0]:,} train / {counts[1]:,} val, "
        f"windows of {window}"
    )
    return Source("streams", (train, None), (val, None), window, about, "all", length)


def _is_task_file(path: str) -> bool:
    from nlc_runtime.training.examples import is_task_file

    return is_task_file(path)


class Carry:
    """The in-context state train.py passes from one call to the next, per micro-step group.

    `start(group, fresh)` is the state a call begins from; `keep(group, new_state)` takes the
    state a call returned (before backward: finishing a sequence may run an LM piece that
    needs the graph) and keeps it detached. `persistent(model, state)` is the emitted
    model.py's `persistent_state`."""

    def __init__(self, model, persistent, stream: bool, persist: bool):
        self.model, self.persistent = model, persistent
        self.stream, self.persist = stream, persist
        self.states: dict[int, dict | None] = {}

    def start(self, group: int, fresh: torch.Tensor | None):
        slot = 0 if not self.stream else group
        state = self.states.get(slot)
        if state is None:
            return None
        if not self.stream:  # windows: the persisted part, each row a new sequence
            return state
        if bool(fresh.all()):  # every row starts a new stream: a new sequence, clock 0
            kept = carried(self.model, state)
            return kept or None
        if bool(fresh.any()):
            return reset_rows(self.model, state, fresh.to(_device(state)))
        return state

    def keep(self, group: int, new_state: dict) -> None:
        if self.stream:
            self.states[group] = _cut(new_state)
        elif self.persist:
            self.states[0] = detach_state(self.persistent(self.model, new_state))

    def state_dict(self) -> dict:
        return {str(k): v for k, v in self.states.items() if v is not None}

    def load_state_dict(self, saved: dict | None) -> None:
        saved = saved or {}
        if saved and not all(str(k).isdigit() for k in saved):  # a run saved before streams:
            saved = {"0": saved}  # its persisted state, one slot
        self.states = {int(k): v for k, v in saved.items()}


def _cut(state):
    """The state detached from its graph (truncated backpropagation), each tensor that
    required grad a new leaf that still does: inside a window the state is a function of the
    weights after its first update, and a compiled kernel meeting a state without grad at the
    window's start would compile a second graph for it (see `state.zeros`)."""
    if isinstance(state, dict):
        return {k: _cut(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_cut(v) for v in state]
    if isinstance(state, torch.Tensor):
        return state.detach().requires_grad_(state.requires_grad)
    return state


def _device(state) -> torch.device:
    if isinstance(state, dict):
        for v in state.values():
            d = _device(v)
            if d is not None:
                return d
    if isinstance(state, list):
        for v in state:
            d = _device(v)
            if d is not None:
                return d
    if isinstance(state, torch.Tensor):
        return state.device
    return None


def long_periods(model, window: int) -> list[int]:
    """The in-context periods that never fire inside a window: with random windows their
    in-context learning never reaches a loss (a warning train.py prints without --stream)."""
    return sorted(p for p in in_context_periods(model) if p >= window)


__all__ = ["IGNORE", "Carry", "Source", "Windows", "long_periods", "read_source"]
