"""The schedule of the nested update loops: what `plan_schedule` produces and `nlc plan` shows.

A `Plan` says, for one spec: which states each component scans over chunks of which size,
which scans share a period (and can run fused), at which tokens of a sequence updates fire
and in which order (≻: faster first), what persists across sequences, and what the outer loop
does (optimizer steps over gradient-accumulation micro-batches).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scan:
    """A component whose in-context states are scanned over chunks of `chunk` tokens."""

    component: str
    kind: str
    chunk: int  # tokens per update
    states: tuple[str, ...]  # updated at each boundary, in ≻ order
    persist: bool  # carried across sequences
    flush: bool  # the last partial chunk of a sequence is flushed (else dropped)
    signal: str  # 'inputs' (cache write), 'component' (inner objective) or 'loss' (LM gradient)


@dataclass(frozen=True)
class Boundary:
    """The updates that fire after token `token` (1-based), faster states first."""

    token: int
    states: tuple[str, ...]
    flush: bool = False  # the end-of-sequence flush of partial chunks


@dataclass(frozen=True)
class OuterUpdate:
    """What the optimizer updates every `every` optimizer steps (1: every step)."""

    every: int
    states: tuple[str, ...]  # optimizer memories of this period, in ≻ order
    weights: int  # trained weight groups of this period


@dataclass(frozen=True)
class OuterLoop:
    """The optimizer's loop: one step every `accumulate` micro-batches; `schedule` splits its
    updates by outer period (per-group periods, M3's slow momentum), fastest first."""

    optimizer: str
    states: tuple[str, ...]  # the optimizer's own states, updated before the weights
    trained: int  # number of trained weight groups
    frozen: tuple[str, ...]
    accumulate: int
    batch_size: int
    steps: int
    schedule: tuple[OuterUpdate, ...] = ()


@dataclass(frozen=True)
class UpdateGroup:
    """An update group of a stateful component: `module.update(state, name)` after every
    `period` tokens (`name`: the runtime class's group name)."""

    name: str
    period: int
    states: tuple[str, ...]  # the IR states that become visible (local names), faster first
    chunk: bool = True  # a chunk rule (flushed or dropped at the end); False: a cache reset
    note: str = ""  # what the update does, where no state names say it
    shaped: bool = False  # its state's shape changes inside a chunk (wavefront pieces)


@dataclass(frozen=True)
class Stateful:
    """A component of the full graph with in-context state, where the model holds it."""

    hops: tuple[tuple[str, str, int], ...]  # (attribute, state key, repeats) of its blocks
    key: str  # its key in its scope's state dict
    attr: str  # its attribute on its scope's module
    full: str  # dotted name with the first index of every block (`layers.0.memory`)
    shown: str  # dotted name with the blocks' indices folded (`layers.{0..1}.memory`)
    groups: tuple[UpdateGroup, ...]
    flush: bool = True  # a partial chunk at the end of a sequence updates (False: dropped)
    lm_signal: bool = False  # learns from the LM loss once per LM piece


@dataclass(frozen=True)
class Fire:
    """One update group of one component, as the loop nest fires it."""

    where: Stateful
    group: UpdateGroup
    level: int | None  # the level of its states (None: a cache reset, no state)


@dataclass(frozen=True)
class Clock:
    """A period of the loop nest and the name the emitted model gives it (`LEVEL_1`)."""

    name: str
    period: int


@dataclass(frozen=True)
class Nest:
    """The loop nest of the emitted `Model.forward` / `Model.finish`, decided by
    `plan_schedule.plan_nest`; code generation renders it as it is."""

    clocks: tuple[Clock, ...]  # every in-context period, fastest first
    fires: tuple[Fire, ...]  # every update group, in the order due updates fire
    lm_piece: int | None  # the LM signal's piece (gcd of the LM-signal periods)
    wave_pieces: tuple[tuple[str, int], ...] = ()  # repeated block -> wavefront piece

    @property
    def periods(self) -> tuple[int, ...]:
        return tuple(c.period for c in self.clocks)

    def clock(self, period: int) -> str:
        return next(c.name for c in self.clocks if c.period == period)

    def due(self, period: int) -> tuple[Fire, ...]:
        """The fires of one period, in firing order."""
        return tuple(f for f in self.fires if f.group.period == period)

    @property
    def cuts(self) -> tuple[int, ...]:
        """Where the plain schedule cuts a call: every period and the LM piece."""
        return tuple(sorted(set(self.periods) | ({self.lm_piece} if self.lm_piece else set())))

    def to_json(self) -> dict:
        return {
            "periods": {c.name: c.period for c in self.clocks},
            "lm_piece": self.lm_piece,
            "fires": [
                {
                    "component": f.where.shown,
                    "group": f.group.name,
                    "period": f.group.period,
                    "level": f.level,
                    "states": list(f.group.states),
                    "end_of_sequence": (
                        ("flush" if f.where.flush else "drop") if f.group.chunk else None
                    ),
                }
                for f in self.fires
            ],
            "wave_pieces": dict(self.wave_pieces),
        }


@dataclass(frozen=True)
class Plan:
    spec: str
    context: int
    scans: tuple[Scan, ...]
    fused: tuple[tuple[int, tuple[str, ...]], ...]  # period -> components whose scans fuse
    lm_piece: int | None  # model-level piece length for LM-signal updates (None: no such state)
    boundaries: tuple[Boundary, ...]  # every token of one sequence at which something fires
    outer: OuterLoop
    # the emitted loop nest over the full graph's components (`plan_nest`); None until planned
    nest: Nest | None = None

    def to_json(self) -> dict:
        out = {
            "spec": self.spec,
            "context": self.context,
            "sequence": {
                "lm_piece": self.lm_piece,
                "scans": [
                    {
                        "component": s.component,
                        "kind": s.kind,
                        "chunk": s.chunk,
                        "states": list(s.states),
                        "persist": s.persist,
                        "partial_chunk": "flush" if s.flush else "drop",
                        "signal": s.signal,
                    }
                    for s in self.scans
                ],
                "fused": [{"period": p, "components": list(c)} for p, c in self.fused],
                "boundaries": [
                    {"token": b.token, "states": list(b.states), "flush": b.flush}
                    for b in self.boundaries
                ],
            },
            "outer": {
                "optimizer": self.outer.optimizer,
                "states": list(self.outer.states),
                "trained_groups": self.outer.trained,
                "frozen": list(self.outer.frozen),
                "accumulate": self.outer.accumulate,
                "batch_size": self.outer.batch_size,
                "steps": self.outer.steps,
                "schedule": [
                    {"every": u.every, "states": list(u.states), "weights": u.weights}
                    for u in self.outer.schedule
                ],
            },
        }
        if self.nest is not None:
            out["nest"] = self.nest.to_json()
        return out
