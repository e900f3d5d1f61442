"""The loop nest of the emitted model: `Model.forward`, `Model.finish` and `Model.learn`.

docs/design.md: the emitted code owns the order. `Model.forward` cuts the tokens of a call at
every boundary of every in-context period (counted on the sequence's clock `state["t"]`), runs
`Model.step` on each segment, then fires the updates due after the segment's last token:
faster levels first, and within a period in ≻ order (a period's updates read only their own
running copies, so any order consistent with ≻ gives the same numbers; the emitted one is the
plan's). With an LM-signal CMS, the end of each LM piece (`lm_piece` tokens, the gcd of the
LM-signal periods) first differentiates the piece's loss to the CMS outputs (`Model.learn`).
`Model.finish` ends a sequence: each partial chunk is flushed or dropped, faster first.

Every period of the spec's full graph fires here, also one the collapsed plan folds away (a
level with period >= context changes nothing within one sequence, but a stream that runs past
the context reaches its boundary).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

from nlc.ir.graph import Graph
from nlc.kinds.emission import Emission, Group, py

WIDTH = 100


@dataclass(frozen=True)
class Streaming:
    """A component with in-context state, where the builder met it."""

    hops: tuple[tuple[str, str, int], ...]  # (attribute, state key, repeats) of enclosing blocks
    key: str  # its key in its scope's state dict
    attr: str  # its attribute on its scope's module
    full: str  # dotted name with the first index of every block (`layers.0.memory`)
    shown: str  # dotted name with the blocks' indices folded (`layers.{0..1}.memory`)
    emission: Emission


@dataclass(frozen=True)
class Fire:
    """One update group of one component, fired by the nest."""

    where: Streaming
    group: Group
    rank: tuple  # order within its period: level, then ≻ (topological index), chunks first
    level: int | None


def _comment(text: str, indent: int) -> list[str]:
    room = WIDTH - indent - 2
    return ["# " + line for line in textwrap.wrap(" ".join(text.split()), room)]


def loop(hops, statements: list[tuple[str, str, str]]) -> list[str]:
    """`state[key] = module.<call>` for (key, attr, call) inside one loop per enclosing
    repeated block (`for block, bs in zip(self.layers, state["layers"])`). `call` is a format
    string: {st} the state entry."""
    lines: list[str] = []
    mod, st = "self", "state"
    for depth, (attr, key, _) in enumerate(hops):
        b, bs = ("block", "bs") if depth == 0 else (f"block{depth}", f"bs{depth}")
        pair = f"zip({mod}.{attr}, {st}[{py(key)}], strict=True)"
        lines.append("    " * depth + f"for {b}, {bs} in {pair}:")
        mod, st = b, bs
    indent = "    " * len(hops)
    for key, attr, call in statements:
        target = f"{st}[{py(key)}]"
        lines.append(f"{indent}{target} = {mod}.{attr}.{call.format(st=target)}")
    return lines


def _grouped(fires: list[Fire], call) -> list[str]:
    """Consecutive fires inside the same blocks share one loop."""
    lines: list[str] = []
    run: list[Fire] = []
    for f in fires + [None]:  # type: ignore[list-item]
        if run and (f is None or f.where.hops != run[0].where.hops):
            lines += loop(run[0].where.hops, [(r.where.key, r.where.attr, call(r)) for r in run])
            run = []
        if f is not None:
            run.append(f)
    return lines


def _describe(f: Fire) -> str:
    every = "every token" if f.group.period == 1 else f"every {f.group.period} tokens"
    if not f.group.states:
        return f"{every}: {f.where.shown} {f.group.note}"
    level = f"level {f.level} ({every})" if f.level is not None else every
    return f"{level}: {f.where.shown} [{', '.join(f.group.states)}]"


def build_nest(graph: Graph, streaming: list[Streaming]) -> dict:
    """The loop nest's pieces for the model template (see the module docstring)."""
    level_of = {s: lv.number for lv in graph.levels or () for s in lv.states}
    index = graph.order.index if graph.order is not None else {}
    fires = []
    for position, s in enumerate(streaming):
        for group in s.emission.groups:
            names = [f"{s.full}.{n}" for n in group.states]
            level = level_of.get(names[0]) if names else None
            first = min((index.get(n, 0) for n in names), default=0)
            rank = (not group.chunk, level or 0, first, position)
            fires.append(Fire(s, group, rank, level))
    periods = sorted({f.group.period for f in fires})
    lm = [s for s in streaming if s.emission.lm_signal]
    lm_piece = None
    if lm:
        lm_piece = math.gcd(*(g.period for s in lm for g in s.emission.groups))

    forward: list[str] = []  # inside the segment loop, after the clock moved to t
    finish: list[str] = []
    if lm_piece is not None:  # before any update: the LM-signal levels learn the piece first
        note = f"every {lm_piece} tokens the LM piece ends: its loss teaches the CMS blocks"
        forward += _comment(note, 12) + [f"if t % {lm_piece} == 0:", "    self.learn(state)"]
    for period in periods:
        due = sorted((f for f in fires if f.group.period == period), key=lambda f: f.rank)
        notes = [line for f in due for line in _comment(_describe(f), 12)]
        body = _grouped(due, lambda f: f'update({{st}}, "{f.group.name}")')
        forward += notes + [f"if t % {period} == 0:"] + ["    " + line for line in body]
        partial = [f for f in due if f.group.chunk]
        if partial:
            finish += [line for f in partial for line in _comment(_describe(f), 8)]
            finish += [f"if t % {period}:"]
            finish += [
                "    " + line
                for line in _grouped(
                    partial,
                    lambda f: (
                        f'update({{st}}, "{f.group.name}")'
                        if f.where.emission.flush
                        else f'drop({{st}}, "{f.group.name}")'
                    ),
                )
            ]
    return {
        "cuts": tuple(sorted(set(periods) | ({lm_piece} if lm_piece else set()))),
        "sync": (lm_piece,) if lm_piece else (),  # what the fused schedule must still cut at
        "forward": forward,
        "finish": finish,
        "lm_piece": lm_piece,
    }
