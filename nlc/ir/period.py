"""Update periods: how often a state changes (docs/design.md, "Clock" and "State").

A period is a positive number of tokens C (updated after every C tokens), `outer` (once per
optimizer step), a multiple `outer*k` of it (once every k optimizer steps: a slower outer
clock, for optimizer groups with a period and M3's slow momentum) or `frozen` (never).
Frequency is 1/period; `outer` is slower than every in-context period, `outer*k` slower than
`outer*j` for k > j, and `frozen` is the slowest of all, so periods sort fastest first.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTER = "outer"
FROZEN = "frozen"


@dataclass(frozen=True, order=False)
class Period:
    """An update period; `tokens` is set for in-context periods, `name` for outer/frozen;
    `steps` (outer only) counts optimizer steps per update."""

    tokens: int | None = None
    name: str | None = None
    steps: int = 1

    def __post_init__(self) -> None:
        if (self.tokens is None) == (self.name is None):
            raise ValueError("a Period is either a token count or 'outer'/'frozen'")
        if self.tokens is not None and self.tokens < 1:
            raise ValueError(f"period must be >= 1 token, got {self.tokens}")
        if self.name is not None and self.name not in (OUTER, FROZEN):
            raise ValueError(f"unknown period {self.name!r}")
        if self.steps < 1 or (self.steps != 1 and self.name != OUTER):
            raise ValueError(f"only 'outer' has a step multiple >= 1, got {self.steps}")

    @staticmethod
    def of(value: int | str | Period) -> Period:
        if isinstance(value, Period):
            return value
        if isinstance(value, bool):
            raise ValueError("a period is not a boolean")
        if isinstance(value, int):
            return Period(tokens=value)
        if value.startswith(OUTER + "*"):
            return Period(name=OUTER, steps=int(value[len(OUTER) + 1 :]))
        return Period(name=value)

    @staticmethod
    def outer(steps: int = 1) -> Period:
        """Once every `steps` optimizer steps."""
        return Period(name=OUTER, steps=steps)

    @property
    def in_context(self) -> bool:
        return self.tokens is not None

    @property
    def is_outer(self) -> bool:
        return self.name == OUTER

    @property
    def is_frozen(self) -> bool:
        return self.name == FROZEN

    def sort_key(self) -> tuple[int, int]:
        """Fastest first: in-context periods by length, then outer by steps, then frozen."""
        if self.tokens is not None:
            return (0, self.tokens)
        return (1, self.steps) if self.name == OUTER else (2, 0)

    def __lt__(self, other: Period) -> bool:
        return self.sort_key() < other.sort_key()

    def faster_than(self, other: Period) -> bool:
        return self.sort_key() < other.sort_key()

    def to_json(self) -> int | str:
        if self.tokens is not None:
            return self.tokens
        return f"{OUTER}*{self.steps}" if self.steps != 1 else self.name  # type: ignore[return-value]

    def __str__(self) -> str:
        return str(self.to_json())


OUTER_PERIOD = Period(name=OUTER)
FROZEN_PERIOD = Period(name=FROZEN)
