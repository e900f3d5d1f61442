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
class Plan:
    spec: str
    context: int
    scans: tuple[Scan, ...]
    fused: tuple[tuple[int, tuple[str, ...]], ...]  # period -> components whose scans fuse
    lm_piece: int | None  # model-level piece length for LM-signal updates (None: no such state)
    boundaries: tuple[Boundary, ...]  # every token of one sequence at which something fires
    outer: OuterLoop

    def to_json(self) -> dict:
        return {
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
