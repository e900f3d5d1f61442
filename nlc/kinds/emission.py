"""What a kind's `emit` returns and the helpers it writes code with: the module's constructor
and the expression that calls it, its update groups, the runtime imports the text needs. Values
from the spec are written with `py` (repr, or a size's expression over `cfg`), names are
validated identifiers, so a spec cannot inject code. Options the runtime cannot run raise
`CodegenError` naming the spec field, instead of emitting something that would silently
differ (`nlc check` renders too, so it refuses what compile would)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from nlc.ir.dim import Dim
from nlc.spec.common import Coefficient, DataDependent


class CodegenError(Exception):
    """The spec is valid but this code generator cannot emit it; `loc` is relative to the
    component."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Group:
    """An update group of a streaming runtime module (`nlc_runtime.exec.stream`): the emitted loop
    nest calls `module.update(state, name)` after every `period` tokens of the sequence."""

    name: str
    period: int
    states: tuple[str, ...]  # the IR states that become visible (local names), faster first
    chunk: bool = True  # a chunk rule (flushed or dropped at the end); False: a cache reset
    note: str = ""  # what the update does, where no state names say it
    # the shape of its state changes inside a chunk (pending tokens, a segment's cache): a
    # wavefront's pieces must end on its boundaries (`nlc_runtime.exec.wavefront`)
    shaped: bool = False


@dataclass(frozen=True)
class Emission:
    ctor: str | None  # expression building the module, None for inline ops
    call: str  # format string: {mod} the module, {in0}, {in1}, ... inputs, {sum}, {state}
    stateful: bool = False  # the call takes a state and returns (y, new_state): streaming

    @property
    def clocked(self) -> bool:
        """The call needs `t`, where its span starts (to find its boundaries inside)."""
        return self.call.startswith("span(")

    groups: tuple[Group, ...] = ()  # its in-context updates, as the loop nest fires them
    # spec fields giving widths in absolute channels (written as literals: they do not scale
    # with Config's settings; the emitted comment says so)
    fixed: tuple[str, ...] = ()
    flush: bool = True  # a partial chunk at the end of a sequence updates (False: dropped)
    lm_signal: bool = False  # learns from the LM loss (`learn(state, taps)` per LM piece)

    @property
    def imports(self) -> set[str]:
        """Import lines the emitted code needs for this component."""
        text = (self.ctor or "") + " " + self.call
        from nlc.kinds import RUNTIME_IMPORTS

        return {
            line
            for symbol, line in RUNTIME_IMPORTS.items()
            if re.search(r"(?<![\w.])" + re.escape(symbol), text)
        }


def is_data(c: Coefficient | None) -> bool:
    return c == "data_dependent" or isinstance(c, DataDependent)


def const(c: Coefficient | None, default: float) -> float:
    return float(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else default


def lr_max(c: Coefficient | None, default: float) -> float:
    if isinstance(c, DataDependent) and c.max is not None:
        return c.max
    return default


def py(value) -> str:
    """A Python literal for a spec value, formatted as ruff would (double-quoted strings); a
    size that derives from the model settings (a `Dim`) is its expression over `cfg`."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Dim):
        return value.code
    if isinstance(value, str):
        return json.dumps(value)  # a valid, double-quoted Python string literal
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"  # (0) would be an int
    return repr(value)


def call_args(*positional, **named) -> str:
    parts = [py(p) for p in positional] + [f"{key}={py(value)}" for key, value in named.items()]
    return ", ".join(parts)


class Raw(str):
    """Text written into the emitted code as is (a config field reference)."""


IMPL = Raw("cfg.impl")
ATTN_IMPL = Raw("cfg.attn_impl")
CONTEXT = Raw("cfg.context")
# a component with update groups runs over a span of tokens with its own boundaries inside
# (`nlc_runtime.exec.stream.span`); `t` is the span's first position
SPAN = "span({mod}, {state}, t, {in0})"
