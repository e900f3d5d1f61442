"""Pass `assign_levels`: group states into levels of equal frequency (docs/design.md).

Requires: states with periods.
Ensures: `graph.levels` lists one `Level` per distinct period, fastest first (level 1 = the
shortest in-context period, then longer periods, then `outer`, then `frozen`); each level's
states in lowering order (so `layers.0` comes before `layers.1`).
"""

from __future__ import annotations

from nlc.ir.graph import Graph, Level
from nlc.ir.period import Period


def assign_levels(graph: Graph) -> Graph:
    """Number the frequency classes (see the module docstring)."""
    by_period: dict[Period, list[str]] = {}
    for state in graph.states():
        by_period.setdefault(state.period, []).append(state.name)
    levels = tuple(
        Level(number, period, tuple(by_period[period]))
        for number, period in enumerate(sorted(by_period, key=Period.sort_key), start=1)
    )
    return graph.replace(levels=levels, passes=graph.passes + ("assign_levels",))
