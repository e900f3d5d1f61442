"""The loop nest of the emitted model, rendered from the plan's `Nest` (`plan_schedule.plan_nest`
decides it; nothing is decided here): the clock table, `Model.forward`'s updates after each
segment, `Model.finish`'s flushes.

docs/design.md: the emitted code owns the order. `Model.forward` cuts the tokens of a call at
every boundary of every in-context period (counted on the sequence's clock `state["t"]`), runs
`Model.step` on each segment, then fires the updates due after the segment's last token
(`clock.is_due`): faster levels first, and within a period in ≻ order (a period's updates read
only their own running copies, so any order consistent with ≻ gives the same numbers; the
emitted one is the plan's). With an LM-signal CMS, the end of each LM piece first
differentiates the piece's loss to the CMS outputs (`Model.learn`). `Model.finish` ends a
sequence: each partial chunk is flushed or dropped, faster first.
"""

from __future__ import annotations

import textwrap

from nlc.ir.plan import Fire, Nest, Stateful, UpdateGroup
from nlc.kinds.emission import py
from nlc.passes.plan_schedule import wave_piece_name

WIDTH = 100


def stateful(hops, key: str, attr: str, full: str, shown: str, emission) -> Stateful:
    """A component with in-context state as the plan knows it: where the model holds it and its
    emission's update groups."""
    groups = tuple(
        UpdateGroup(g.name, g.period, tuple(g.states), g.chunk, g.note, g.shaped)
        for g in emission.groups
    )
    return Stateful(hops, key, attr, full, shown, groups, emission.flush, emission.lm_signal)


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


def _grouped(fires: tuple[Fire, ...], call) -> list[str]:
    """Consecutive fires inside the same blocks share one loop."""
    lines: list[str] = []
    run: list[Fire] = []
    for f in fires + (None,):  # type: ignore[operator]
        if run and (f is None or f.where.hops != run[0].where.hops):
            lines += loop(run[0].where.hops, [(r.where.key, r.where.attr, call(r)) for r in run])
            run = []
        if f is not None:
            run.append(f)
    return lines


def _describe(f: Fire) -> str:
    group: UpdateGroup = f.group
    if not group.states:
        return f"{f.where.shown} {group.note}"
    return f"{f.where.shown} [{', '.join(group.states)}]"


def _note(f: Fire) -> str:
    every = "every token" if f.group.period == 1 else f"every {f.group.period} tokens"
    when = f"level {f.level} ({every})" if f.level is not None and f.group.states else every
    return f"{when}: {_describe(f)}"


def render_nest(nest: Nest) -> dict:
    """The loop nest's pieces for the model template (see the module docstring)."""
    table: list[str] = []  # module-level constants: the clock
    forward: list[str] = []  # inside the segment loop, after the clock moved to t
    finish: list[str] = []
    for c in nest.clocks:
        due = nest.due(c.period)
        what = "; ".join(_describe(f) for f in due)
        line = f"{c.name} = {c.period}  # {what}"
        table += [line] if len(line) <= WIDTH else _comment(what, 0) + [f"{c.name} = {c.period}"]
    if nest.clocks:
        names = [c.name for c in nest.clocks]
        table.append(f"ALL_PERIODS = ({', '.join(names)}{',' if len(names) == 1 else ''})")
    if nest.lm_piece is not None:
        table += _comment("the LM piece: the gcd of the LM-signal periods", 0)
        table.append(f"LM_PIECE = {nest.lm_piece}")
        note = "the LM piece ends: its loss teaches the CMS blocks (before any update)"
        forward += _comment(note, 12) + ["if is_due(t, LM_PIECE):", "    self.learn(state)"]
    for block, piece in nest.wave_pieces:
        note = (
            f"the wavefront's piece over `{block}`: a multiple of the periods of states whose "
            "shape changes inside a chunk and of every period below it, a divisor of those above"
        )
        table += _comment(note, 0) + [f"{wave_piece_name(block)} = {piece}"]
    for c in nest.clocks:
        due = nest.due(c.period)
        notes = [line for f in due for line in _comment(_note(f), 12)]
        body = _grouped(due, lambda f: f'update({{st}}, "{f.group.name}")')
        forward += notes + [f"if is_due(t, {c.name}):"] + ["    " + line for line in body]
        partial = tuple(f for f in due if f.group.chunk)
        if partial:
            finish += [line for f in partial for line in _comment(_note(f), 8)]
            finish += [f"if not is_due(t, {c.name}):"]
            finish += [
                "    " + line
                for line in _grouped(
                    partial,
                    lambda f: (
                        f'update({{st}}, "{f.group.name}")'
                        if f.where.flush
                        else f'drop({{st}}, "{f.group.name}")'
                    ),
                )
            ]
    if nest.lm_piece is None:
        cuts, sync = "ALL_PERIODS", "()"
    elif nest.clocks:
        cuts, sync = "(*ALL_PERIODS, LM_PIECE)", "(LM_PIECE,)"
    else:
        cuts, sync = "(LM_PIECE,)", "(LM_PIECE,)"
    return {
        "table": table,
        "cuts": cuts if nest.clocks or nest.lm_piece else "",
        "sync": sync,
        "forward": forward,
        "finish": finish,
        "lm_piece": nest.lm_piece,
    }
