"""The compiler's front half as one readable list of passes.

spec ──lower──▶ graph ──infer_shapes──▶ ──build_order──▶ ──assign_levels──▶ full graph
full graph ──collapse──▶ ──build_order──▶ ──assign_levels──▶ collapsed graph
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nlc.ir.graph import Graph
from nlc.ir.verify import verify
from nlc.passes.assign_levels import assign_levels
from nlc.passes.build_order import build_order
from nlc.passes.collapse import collapse
from nlc.passes.infer_shapes import infer_shapes
from nlc.passes.lower import lower
from nlc.spec.load import LoadedSpec, load_spec

PASSES: list[tuple[str, Callable[[Graph], Graph]]] = [
    ("infer_shapes", infer_shapes),
    ("build_order", build_order),
    ("assign_levels", assign_levels),
]
"""The passes after `lower`, in order."""

COLLAPSE_PASSES: list[tuple[str, Callable[[Graph], Graph]]] = [
    ("collapse", collapse),
    ("build_order", build_order),
    ("assign_levels", assign_levels),
]
"""Collapse, then order and levels again on the collapsed graph."""

PASS_NAMES = ["lower"] + [n for n, _ in PASSES] + ["collapse"]


@dataclass(frozen=True)
class FrontResult:
    """The full graph and its collapsed form, both with order and levels."""

    full: Graph
    collapsed: Graph


def _run(graph: Graph, passes, check: bool, stop_after: str | None) -> Graph:
    for name, fn in passes:
        graph = fn(graph)
        if check:
            verify(graph, after=name)
        if name == stop_after:
            break
    return graph


def run_front(
    spec: str | Path | LoadedSpec, check: bool = False, overrides: Sequence[str] = ()
) -> FrontResult:
    """Run every front-half pass; `check` runs the IR verifier after each one; `overrides`
    (`--set PATH=VALUE`) edit the spec file's document first."""
    loaded = spec if isinstance(spec, LoadedSpec) else load_spec(spec, overrides)
    graph = lower(loaded)
    if check:
        verify(graph, after="lower")
    full = _run(graph, PASSES, check, None)
    return FrontResult(full, _run(full, COLLAPSE_PASSES, check, None))


def run_until(
    spec: str | Path | LoadedSpec, after: str, check: bool = False, overrides: Sequence[str] = ()
) -> Graph:
    """The graph right after pass `after` (one of PASS_NAMES); for `collapse`, the collapsed
    graph with its order and levels recomputed."""
    if after not in PASS_NAMES:
        raise ValueError(f"unknown pass {after!r}; expected one of {', '.join(PASS_NAMES)}")
    loaded = spec if isinstance(spec, LoadedSpec) else load_spec(spec, overrides)
    graph = lower(loaded)
    if after == "lower":
        return graph
    if after == "collapse":
        return run_front(loaded, check).collapsed
    return _run(graph, PASSES, check, after)
