"""Pass `plan_schedule`: levels and periods -> the nested update loops (`nlc.ir.plan.Plan`).

Requires: a graph with order and levels (normally the collapsed graph: states that cannot
change in context have been folded away, so nothing is scanned for nothing).
Ensures: one `Scan` per component with in-context states (chunk = its states' period; a
component whose states have several periods, e.g. self-modifying Titans, gets one scan per
period); scans of equal period grouped as fusable; the exact boundaries of one sequence —
after every token t with t ≡ 0 (mod C) for each period C, plus the end-of-sequence flush of
partial chunks — each listing its states fastest first and, within a period, in ≻ order;
the outer loop (optimizer states before weights, accumulation, batch, steps), split by outer
period (`outer*k`: every k optimizer steps).
Periods need not divide each other or the context: boundaries are computed exactly.

`plan_nest` plans the emitted loop nest over the full graph's stateful components (every
period fires there, also one the collapse folds away: a stream that runs past the context
reaches its boundary): the names of its clocks, the order in which due updates fire (faster
level first; within a period chunk rules before cache resets, then ≻), the LM piece and the
wavefront's pieces. Code generation renders the `Nest` and decides nothing.
"""

from __future__ import annotations

import math
from collections import defaultdict

from nlc.ir.graph import Graph
from nlc.ir.nodes import EdgeKind, StateKind
from nlc.ir.plan import (
    Boundary,
    Clock,
    Fire,
    Nest,
    OuterLoop,
    OuterUpdate,
    Plan,
    Scan,
    Stateful,
)


def _within_level_order(graph: Graph, names: list[str]) -> list[str]:
    """Sort equal-period states so that A comes before B whenever A ≻ B (stable otherwise)."""
    assert graph.order is not None
    index = graph.order.index
    return sorted(names, key=lambda n: index[n])  # the order's index is topological


def _signal(graph: Graph, state: str) -> str:
    sources = {u for u, _, k in graph.nx.in_edges(state, keys=True) if k == EdgeKind.UPDATES}
    if "loss" in sources:
        return "loss"
    if any(graph.node(u).op == "write" for u in sources if not graph.node(u).is_state):
        return "inputs"
    return "component"


def plan_schedule(graph: Graph) -> Plan:
    """Plan the nested loops (see the module docstring)."""
    if graph.order is None or graph.levels is None:
        raise ValueError("plan_schedule needs build_order and assign_levels to have run")
    T = graph.model.context
    spec = graph.spec
    flush_of: dict[str, bool] = {}
    for name, comp in graph.components.items():
        update = getattr(comp, "update", None)
        flush_of[name] = update is None or update.partial_chunk == "flush"

    # --- scans: per component and period ----------------------------------------------------
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for state in graph.states():
        if state.period.in_context:
            groups[(state.component, state.period.tokens)].append(state.name)  # type: ignore[index]
    scans = []
    for (component, chunk), names in groups.items():
        ordered = _within_level_order(graph, names)
        scans.append(
            Scan(
                component=component,
                kind=graph.components[component].kind,
                chunk=chunk,
                states=tuple(ordered),
                persist=any(graph.node(n).persist for n in names),
                flush=flush_of.get(component, True),
                signal=_signal(graph, ordered[-1]),
            )
        )
    fused_map: dict[int, list[str]] = defaultdict(list)
    for s in scans:
        fused_map[s.chunk].append(s.component)
    fused = tuple(
        (period, tuple(comps)) for period, comps in sorted(fused_map.items()) if len(comps) > 1
    )
    lm_piece = lm_piece_of([s.chunk for s in scans if s.signal == "loss"])

    # --- boundaries of one sequence ------------------------------------------------------------
    level_rank = {lv.period.tokens: lv.number for lv in graph.levels if lv.period.in_context}
    by_period: dict[int, list[str]] = defaultdict(list)
    for s in scans:
        by_period[s.chunk].extend(s.states)
    for period in by_period:
        by_period[period] = _within_level_order(graph, by_period[period])
    boundaries = []
    ranked = sorted(by_period, key=level_rank.__getitem__)  # faster levels first
    # only the tokens where something fires (and the last), not every token of the context
    tokens = sorted({t for p in ranked for t in range(p, T + 1, p)} | ({T} if ranked else set()))
    for t in tokens:
        firing = [p for p in ranked if t % p == 0]
        partial = [p for p in ranked if t == T and T % p]
        states: list[str] = []
        for p in firing:
            states += by_period[p]
        flush_states: list[str] = []
        for p in partial:
            flush_states += [n for n in by_period[p] if flush_of.get(graph.node(n).component, True)]
        if states:
            boundaries.append(Boundary(t, tuple(states)))
        if flush_states:
            boundaries.append(Boundary(t, tuple(flush_states), flush=True))

    # --- the outer loop -----------------------------------------------------------------------
    opt_states = tuple(s.name for s in graph.states() if s.kind == StateKind.OPT_STATE)
    weights = [s for s in graph.states() if s.kind == StateKind.WEIGHT]
    every: dict[int, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for s in graph.states():
        if s.period.is_outer and s.kind in (StateKind.OPT_STATE, StateKind.WEIGHT):
            every[s.period.steps][s.kind == StateKind.WEIGHT].append(s.name)
    schedule = tuple(
        OuterUpdate(k, tuple(_within_level_order(graph, every[k][0])), len(every[k][1]))
        for k in sorted(every)
    )
    outer = OuterLoop(
        optimizer=spec.optimizer.kind,
        states=opt_states,
        trained=sum(1 for w in weights if w.period.is_outer),
        frozen=tuple(w.name for w in weights if w.period.is_frozen),
        accumulate=spec.train.accumulate,
        batch_size=spec.train.batch_size,
        steps=spec.train.steps,
        schedule=schedule,
    )
    return Plan(
        spec=graph.name,
        context=T,
        scans=tuple(scans),
        fused=fused,
        lm_piece=lm_piece,
        boundaries=tuple(boundaries),
        outer=outer,
    )


def lm_piece_of(periods: list[int]) -> int | None:
    """The LM signal's piece: the gcd of the LM-signal periods (every one of their boundaries
    ends a piece, so each piece's loss is differentiated before any update reads it)."""
    return math.gcd(*periods) if periods else None


def wave_piece(periods: set[int], shaped: set[int]) -> int:
    """The piece of a wavefront over a block with these in-context periods, the smallest that
    is a multiple of every `shaped` one (equal state shapes at every piece's start), of every
    period below it (they fire inside a wave, before the slower ones) and a divisor of every
    period above it (no boundary inside a piece at a phase that differs between blocks)."""
    piece = math.lcm(*shaped) if shaped else min(periods)
    while off := [p for p in periods if (piece % p if p <= piece else p % piece)]:
        piece = math.lcm(piece, *off)
    return piece


def wave_piece_name(block: str) -> str:
    """The emitted constant holding the wavefront's piece over a repeated block."""
    return f"{block.upper()}_WAVE_PIECE"


def plan_nest(graph: Graph, stateful: list[Stateful], waves: dict[str, list[Stateful]]) -> Nest:
    """The emitted loop nest (see the module docstring). `stateful`: every component with
    in-context state of the full graph, in the model's order; `waves`: the repeated blocks
    that may run as a wavefront, by attribute, with their components."""
    level_of = {s: lv.number for lv in graph.levels or () for s in lv.states}
    index = graph.order.index if graph.order is not None else {}
    ranked = []
    for position, s in enumerate(stateful):
        for group in s.groups:
            names = [f"{s.full}.{n}" for n in group.states]
            level = level_of.get(names[0]) if names else None
            first = min((index.get(n, 0) for n in names), default=0)
            # faster first; within a period chunk rules before cache resets, then ≻
            rank = (group.period, not group.chunk, level or 0, first, position)
            ranked.append((rank, Fire(s, group, level)))
    fires = tuple(f for _, f in sorted(ranked, key=lambda item: item[0]))
    clocks: list[Clock] = []
    for period in sorted({f.group.period for f in fires}):
        due = [f for f in fires if f.group.period == period]
        levels = [f.level for f in due if f.level is not None]
        name = f"LEVEL_{levels[0]}" if levels else due[0].group.name.upper()
        if any(c.name == name for c in clocks):
            name = f"{name}_{period}"
        clocks.append(Clock(name, period))
    lm_piece = lm_piece_of([g.period for s in stateful if s.lm_signal for g in s.groups])
    pieces = []
    for block, members in waves.items():
        periods = {g.period for s in members for g in s.groups}
        if periods:
            shaped = {g.period for s in members for g in s.groups if g.shaped}
            pieces.append((block, wave_piece(periods, shaped)))
    return Nest(tuple(clocks), fires, lm_piece, tuple(pieces))
