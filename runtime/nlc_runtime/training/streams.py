"""Stream training: every batch row reads consecutive windows of one stream.

A memory is trained for what it will meet. With random windows (`data.sample_batch`) no
in-context state ever sees more than one window of a text, so a memory carried along a long
stream at evaluation meets a regime it never trained in. Here each row of a batch walks through
a stream -- a document, or a piece of `stream_length` tokens of the text -- one window at a
time; the emitted train.py carries the model's whole in-context state (memories, momenta, CMS
levels, KV and conv caches, the clock) from a row's window to its next one, detached between
calls (truncated backpropagation through time). Where a row's stream ends, the row takes the
next stream of a shuffled queue and its state starts afresh (`stream.reset_rows`): that row's
only.

Streams of one length (the text cut into pieces) keep every row in step: all rows start a new
stream at the same window, the whole state starts afresh and the clock from 0. Documents end at
different windows; the rest of a row's last window is padding (target -100: no loss), and the
row restarts alone at the next window while the clock runs on, which is exact only when every
in-context period divides the window (`check_window`).

Rows are global: every process walks the same `batch_size * world` rows per micro-step group
(the queue is drawn from one generator seeded alike on every rank) and keeps its own slice, so
N processes with batch B see exactly what one process with batch N * B sees.
"""

from __future__ import annotations

import torch

from nlc_runtime.errors import DataError

IGNORE = -100  # target of a padded position: F.cross_entropy's ignore_index


def cut_streams(n_tokens: int, length: int, window: int) -> list[tuple[int, int]]:
    """[start, end) of streams of `length` tokens of a text of n_tokens (inputs; the target of
    a stream's last input is the token after it, so a stream needs one token more). The rest
    shorter than a whole stream is left out: every stream then has the same number of windows
    and the rows stay in step."""
    if length < window:
        raise DataError(
            f"--stream-length {length} is shorter than the window ({window} tokens): a stream "
            "holds at least one window"
        )
    count = (n_tokens - 1) // length
    if count < 1:
        raise DataError(
            f"{n_tokens} tokens hold no stream of {length} tokens; give a smaller --stream-length"
        )
    return [(i * length, (i + 1) * length) for i in range(count)]


def document_streams(starts: list[int], n_tokens: int) -> list[tuple[int, int]]:
    """[start, end) of the inputs of each document (`starts`: where each begins in the joined
    tokens, its separator included at its end): the last input's target is the document's
    own last token, never the next document's first. Documents with nothing to predict are
    left out."""
    bounds = [*starts, n_tokens]
    return [(s, e - 1) for s, e in zip(bounds, bounds[1:]) if e - 1 > s]


class Streams:
    """Batches of consecutive windows, one stream per row.

    `next(group)` -> (x, y, fresh): x, y (batch_size, window) int64 inputs and targets (y is
    IGNORE past a stream's end); `fresh` (batch_size,) bool, the rows whose stream starts with
    this window. Rows are `groups` (micro-steps per optimizer step) x world x batch_size;
    group g's rows are advanced by `next(g)`. `state_dict` / `load_state_dict` resume exactly.
    """

    def __init__(
        self,
        data: torch.Tensor,
        streams: list[tuple[int, int]],
        batch_size: int,
        window: int,
        generator: torch.Generator,
        rank: int = 0,
        world: int = 1,
        groups: int = 1,
        shuffle: bool = True,
    ):
        if not streams:
            raise DataError("no stream holds two tokens: the source has no text to stream")
        self.data, self.streams = data, streams
        self.batch, self.window, self.rank, self.world = batch_size, window, rank, world
        self.generator, self.shuffle = generator, shuffle
        rows = batch_size * world * groups
        self.queue: list[int] = []  # streams not yet taken, in the order rows take them
        self.stream = [self._take() for _ in range(rows)]  # each row's stream
        self.offset = [0] * rows  # tokens of its stream each row has read

    def _take(self) -> int:
        if not self.queue:  # a new pass over the streams
            n = len(self.streams)
            order = torch.randperm(n, generator=self.generator) if self.shuffle else range(n)
            self.queue = [int(i) for i in order]
        return self.queue.pop(0)

    @property
    def in_step(self) -> bool:
        """Every stream has the same length: rows start new streams together."""
        return len({e - s for s, e in self.streams}) == 1

    def next(self, group: int = 0):
        rows_per_group = self.batch * self.world
        first = group * rows_per_group
        xs, ys, fresh = [], [], []
        for row in range(first, first + rows_per_group):
            start, end = self.streams[self.stream[row]]
            if start + self.offset[row] >= end:  # its stream is done: the next one
                self.stream[row], self.offset[row] = self._take(), 0
                start, end = self.streams[self.stream[row]]
            fresh.append(self.offset[row] == 0)
            a = start + self.offset[row]
            b = min(a + self.window, end)
            x = self.data[a:b].long()
            y = self.data[a + 1 : b + 1].long()
            if b - a < self.window:  # a document's last window: padded, no loss there
                pad = self.window - (b - a)
                x = torch.cat([x, x.new_zeros(pad)])
                y = torch.cat([y, y.new_full((pad,), IGNORE)])
            xs.append(x)
            ys.append(y)
            self.offset[row] += self.window
        mine = slice(self.rank * self.batch, (self.rank + 1) * self.batch)
        return (
            torch.stack(xs[mine]),
            torch.stack(ys[mine]),
            torch.tensor(fresh[mine], dtype=torch.bool),
        )

    def state_dict(self) -> dict:
        return {
            "queue": list(self.queue),
            "stream": list(self.stream),
            "offset": list(self.offset),
            "rng": self.generator.get_state(),
        }

    def load_state_dict(self, saved: dict) -> None:
        if len(saved["stream"]) != len(self.stream):
            raise DataError(
                f"the checkpoint streams {len(saved['stream'])} rows, this run "
                f"{len(self.stream)} (batch size x processes x --accumulate must not change)"
            )
        self.queue = [int(i) for i in saved["queue"]]
        self.stream = [int(i) for i in saved["stream"]]
        self.offset = [int(i) for i in saved["offset"]]
        self.generator.set_state(saved["rng"])


def in_context_periods(model: torch.nn.Module) -> set[int]:
    """Every period (tokens) of an update group of the model's streaming modules."""
    return {p for m in model.modules() for p in (getattr(m, "periods", None) or {}).values()}


def check_window(model: torch.nn.Module, window: int) -> None:
    """Rows that restart alone keep the batch's clock: their chunks line up with a fresh
    sequence's only where every period divides the window."""
    odd = sorted(p for p in in_context_periods(model) if window % p)
    if odd:
        raise DataError(
            f"--stream over documents restarts rows between windows of {window} tokens, and "
            f"the period(s) {', '.join(map(str, odd))} do not divide it: choose a context "
            "(x --bptt-windows) that is a multiple of every period, or --stream-length N "
            "(streams of one length keep all rows in step)"
        )
