"""The in-context clock: where a call's tokens are cut and which updates are due after a token.

Every place that runs the loop nest asks this module (the emitted `Model.forward` and
`Model.finish`, `stream.span` / `run` / `finish_state`, the wavefront, the reference
interpreter's `after_token`, the memories' fused scans), so the rule is written once:

- the clock `t` counts the tokens of a sequence seen so far; a group of period P is due after
  token t when t % P == 0 (`is_due`), and a call of n tokens after token t is cut at every such
  boundary inside it (`segments`);
- updates due together fire faster first (the smaller period), and at equal periods in the
  order the module declares its groups (its ≻ order) -- `due`;
- at the end of a sequence of t tokens, every group with a partial chunk (t % P != 0) is
  flushed (updated) or, where the spec says `partial_chunk: drop`, dropped -- `finish_due`.

A runtime module with in-context state offers `StreamingModule`, with update groups `Updating`,
and `Dropping` where a partial chunk may be dropped; modules that step through a span's
boundaries themselves add `scan` (`Scanning`) or `prepare` / `segment` / `output` (`Prepared`:
the per-token work of a whole span at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class StreamingModule(Protocol):
    """A module with in-context state (memories, CMS, KV and conv caches).

    periods: its update groups and their periods in tokens, in its ≻ order (a cache that moves
    with every token has none); flush: a partial chunk at the end of a sequence updates (True)
    or is dropped (False, `partial_chunk: drop`); init_state(batch): its state at token 0;
    forward(*xs, state): one segment with no boundary of its periods strictly inside (outputs
    read the visible state; the segment's writes advance running copies)."""

    periods: Mapping[str, int]
    flush: bool

    def init_state(self, batch: int) -> dict: ...

    def __call__(self, *args: Any) -> tuple[Any, dict]: ...


@runtime_checkable
class Updating(StreamingModule, Protocol):
    """A streaming module with update groups: `update(state, group)` is the boundary of
    `group`, what becomes visible."""

    def update(self, state: dict, group: str) -> dict: ...


@runtime_checkable
class Dropping(Updating, Protocol):
    """An updating module whose partial chunk may be dropped (`flush` False): `drop(state,
    group)` sends the running copy back to the chunk start."""

    def drop(self, state: dict, group: str) -> dict: ...


@runtime_checkable
class Scanning(Protocol):
    """A streaming module that runs a span's own boundaries itself (loop fission, fused
    chunks); `scan` returns None where it keeps the literal per-segment loop."""

    def scan(self, state: dict, t: int, *xs: torch.Tensor) -> tuple[Any, dict] | None: ...


@runtime_checkable
class Prepared(Protocol):
    """A streaming module whose per-token work (projections, convolutions) runs for a whole
    span at once: `prepare` cuts it into pieces of `lengths`, `segment` runs one piece (its
    outputs concatenated along `span_dim`), `output` finishes the span's outputs."""

    span_dim: int

    def prepare(self, *args: Any) -> tuple[list, dict]: ...

    def segment(self, *args: Any) -> tuple[Any, dict]: ...

    def output(self, y: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor: ...


def is_due(t: int, period: int) -> bool:
    """A group of `period` tokens updates after token t (t tokens of the sequence seen)."""
    return t % period == 0


def segments(t: int, n: int, periods) -> list[tuple[int, int]]:
    """Spans [s, e) of a call of `n` tokens that starts after token `t` of its sequence, cut at
    every absolute boundary (a multiple of any of `periods`). Within a span no state of those
    periods changes, so it is computed as one batch of tokens."""
    cuts = {n}
    for period in periods:
        first = (t // period + 1) * period - t  # the first boundary inside this call
        cuts.update(range(first, n, period))
    spans, s = [], 0
    for e in sorted(cuts):
        if e > s:
            spans.append((s, e))
            s = e
    return spans


def firing_order(periods: Mapping[str, int]) -> list[tuple[str, int]]:
    """(group, period) in the order due updates fire: faster first, declared order at equal
    periods (a stable sort: a module declares its groups in ≻ order)."""
    return sorted(periods.items(), key=lambda item: item[1])


def due(
    periods: Mapping[str, int], t: int, which: Callable[[int], bool] | None = None
) -> list[str]:
    """The groups due after token t, in firing order; `which` keeps only some periods (the
    wavefront fires those up to its piece inside a wave, the slower ones between waves)."""
    return [
        group
        for group, period in firing_order(periods)
        if is_due(t, period) and (which is None or which(period))
    ]


def fire_due(
    module: Updating, state: dict, t: int, which: Callable[[int], bool] | None = None
) -> dict:
    """`state` after the updates of `module` due after token t, faster first."""
    for group in due(module.periods, t, which):
        state = module.update(state, group)
    return state


def finish_due(module: Updating, state: dict, t: int) -> dict:
    """The end of a sequence of t tokens: every group with a partial chunk is flushed
    (`update`) or dropped (`drop`, `partial_chunk: drop`), faster first."""
    for group, period in firing_order(module.periods):
        if is_due(t, period):
            continue
        if module.flush:
            state = module.update(state, group)
        else:
            assert isinstance(module, Dropping), f"{type(module).__name__} cannot drop"
            state = module.drop(state, group)
    return state


def all_periods(module: StreamingModule) -> list[int]:
    """The distinct periods of a module's groups, ascending: where its own segments are cut."""
    return sorted(set(module.periods.values()))
