"""Where a period sits on a frequency axis (updates per token), and when a state fires.

In-context period C: 1/C updates per token. `outer` updates once per optimizer step, i.e.
once every batch_size × accumulate × context training tokens, so it is drawn at that
frequency, but never faster than a quarter of the slowest in-context frequency (docs/design.md:
outer is slower than every in-context period). `frozen` never updates; it is drawn one
decade left of outer at a position labelled "frozen (never)".
"""

from __future__ import annotations

from nlc.ir.graph import Graph
from nlc.ir.period import Period


def tokens_per_step(graph: Graph) -> int:
    train = graph.spec.train
    return train.batch_size * train.accumulate * graph.model.context


def outer_frequency(graph: Graph) -> float:
    slowest = max(
        (s.period.tokens for s in graph.states() if s.period.tokens is not None), default=1
    )
    return min(1.0 / tokens_per_step(graph), 0.25 / slowest)


def frequency(graph: Graph, period: Period) -> float:
    """Updates per token (a drawing position for frozen, which never updates)."""
    if period.tokens is not None:
        return 1.0 / period.tokens
    outer = outer_frequency(graph)
    if period.is_outer:
        return outer / period.steps
    slowest_outer = max((s.period.steps for s in graph.states() if s.period.is_outer), default=1)
    return outer / (10.0 * slowest_outer)  # below the slowest outer clock


def firings(period: Period, tokens: int, flush: bool = True) -> tuple[list[int], int | None]:
    """Tokens (1-based) after which a state with `period` updates within a sequence of
    `tokens` tokens: t ≡ 0 mod C, plus the flushed last partial chunk (returned apart)."""
    if period.tokens is None:
        return [], None
    c = period.tokens
    regular = list(range(c, tokens + 1, c))
    partial = tokens if flush and tokens % c else None
    return regular, partial
