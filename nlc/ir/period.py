"""Update periods: how often a state changes (DESIGN.md §1, "Clock" and "State").

A period is a positive number of tokens C (updated after every C tokens), `outer` (once per
optimizer step) or `frozen` (never). Frequency is 1/period; `outer` is slower than every
in-context period and `frozen` is the slowest of all, so periods sort fastest first.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTER = "outer"
FROZEN = "frozen"


@dataclass(frozen=True, order=False)
class Period:
    """An update period; `tokens` is set for in-context periods, `name` for outer/frozen."""

    tokens: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.tokens is None) == (self.name is None):
            raise ValueError("a Period is either a token count or 'outer'/'frozen'")
        if self.tokens is not None and self.tokens < 1:
            raise ValueError(f"period must be >= 1 token, got {self.tokens}")
        if self.name is not None and self.name not in (OUTER, FROZEN):
            raise ValueError(f"unknown period {self.name!r}")

    @staticmethod
    def of(value: int | str | Period) -> Period:
        if isinstance(value, Period):
            return value
        if isinstance(value, bool):
            raise ValueError("a period is not a boolean")
        if isinstance(value, int):
            return Period(tokens=value)
        return Period(name=value)

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
        """Fastest first: in-context periods by length, then outer, then frozen."""
        if self.tokens is not None:
            return (0, self.tokens)
        return (1, 0) if self.name == OUTER else (2, 0)

    def __lt__(self, other: Period) -> bool:
        return self.sort_key() < other.sort_key()

    def faster_than(self, other: Period) -> bool:
        return self.sort_key() < other.sort_key()

    def to_json(self) -> int | str:
        return self.tokens if self.tokens is not None else self.name  # type: ignore[return-value]

    def __str__(self) -> str:
        return str(self.to_json())


OUTER_PERIOD = Period(name=OUTER)
FROZEN_PERIOD = Period(name=FROZEN)
