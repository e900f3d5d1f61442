"""What a kind's `emit` returns: a typed description of the runtime call that runs the
component -- the runtime class and its constructor arguments (`Construct`), how the emitted
step calls it (`Call`), its update groups (`Group`) -- and no source text: code generation
renders it (`nlc.codegen.render`) and derives the import lines from the runtime class. The
argument values are spec values, sizes (`nlc.ir.dim.Dim`, written as expressions of the
emitted Config), `Setting`s (a Config field) and `Ratio`s, so a spec cannot inject code. Options
the runtime cannot run raise `CodegenError` naming the spec field, instead of emitting
something that would silently differ (`nlc check` renders too, so it refuses what compile
would)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nlc.ir.dim import Dim, code
from nlc.spec.common import Coefficient, DataDependent


class CodegenError(Exception):
    """The spec is valid but this code generator cannot emit it; `loc` is relative to the
    component."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Runtime:
    """A class the emitted code builds: `name` in module `module`, imported by name, or read
    as `alias.name` when the module is imported under `alias` (`rt.MLP`, `nn.Linear`)."""

    module: str
    name: str
    alias: str | None = None

    @property
    def import_line(self) -> str:
        if self.alias is not None:
            return f"import {self.module} as {self.alias}"
        return f"from {self.module} import {self.name}"

    def load(self) -> type:
        """The class itself (imports the runtime: torch)."""
        return getattr(importlib.import_module(self.module), self.name)


@dataclass(frozen=True)
class Setting:
    """A field of the emitted `Config` read when the module is built (`cfg.impl`)."""

    name: str


IMPL = Setting("impl")
ATTN_IMPL = Setting("attn_impl")


@dataclass(frozen=True)
class Ratio:
    """`numerator / denominator`, the denominator a size (an expression of the Config when it
    is a `Dim`): a default step that scales with the model's width."""

    numerator: float
    denominator: int

    @property
    def value(self) -> float:
        return self.numerator / int(self.denominator)


@dataclass(frozen=True)
class Construct:
    """`runtime(*args, **kwargs)`: how the component's module is built."""

    runtime: Runtime
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self, settings: dict[str, Any]):
        """The module itself, `settings` giving the values of the Config fields it reads
        (the kind contract's test builds every kind's module this way, on the meta device)."""

        def value(v):
            if isinstance(v, Setting):
                return settings[v.name]
            if isinstance(v, Ratio):
                return v.value
            if isinstance(v, Dim):
                return int(v)
            if isinstance(v, (list, tuple)):
                return type(v)(value(x) for x in v)
            return v

        cls = self.runtime.load()
        return cls(*map(value, self.args), **{k: value(v) for k, v in self.kwargs.items()})


class Call(Enum):
    """How the emitted step calls the component (x0, x1, ...: its inputs)."""

    MODULE = "module"  # y = module(x0, ...)
    STREAM = "stream"  # y, state = module(x0, ..., state): carries a state across segments
    SPAN = "span"  # y, state = span(module, state, t, x0, ...): update groups inside the span
    SUM = "sum"  # y = x0 + x1 + ... (no module)
    PASS = "pass"  # y = x0 (no module)
    TIED = "tied"  # y = F.linear(x0, <the tied embedding>.weight) (no module)


@dataclass(frozen=True)
class Group:
    """An update group of a streaming runtime module (`nlc_runtime.exec.stream`): the emitted loop
    nest calls `module.update(state, name)` after every `period` tokens of the sequence. `name`
    is one of the runtime class's group names (its `GROUPS`; the kind contract test checks)."""

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
    """The runtime call of one component."""

    module: Construct | None  # None: an inline op (SUM, PASS, TIED)
    call: Call
    inputs: int = 1  # how many of its inputs the call reads (SUM: all of them)
    groups: tuple[Group, ...] = ()  # its in-context updates, as the loop nest fires them
    # spec fields giving widths in absolute channels (written as literals: they do not scale
    # with Config's settings; the emitted comment says so)
    fixed: tuple[str, ...] = ()
    flush: bool = True  # a partial chunk at the end of a sequence updates (False: dropped)
    lm_signal: bool = False  # learns from the LM loss (`learn(state, taps)` per LM piece)
    tied: str | None = None  # TIED: the attribute of the embedding whose weights it reads

    @property
    def stateful(self) -> bool:
        """The call takes a state and returns (y, new_state): streaming."""
        return self.call in (Call.STREAM, Call.SPAN)

    @property
    def clocked(self) -> bool:
        """The call needs `t`, where its span starts (to find its boundaries inside)."""
        return self.call is Call.SPAN

    @property
    def imports(self) -> set[str]:
        """Import lines the emitted code needs for this component."""
        return {self.module.runtime.import_line} if self.module is not None else set()


def is_data(c: Coefficient | None) -> bool:
    return c == "data_dependent" or isinstance(c, DataDependent)


def const(c: Coefficient | None, default: float) -> float:
    return float(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else default


def lr_max(c: Coefficient | None, default: float) -> float:
    if isinstance(c, DataDependent) and c.max is not None:
        return c.max
    return default


def py(value) -> str:
    """The Python literal of a description's value, formatted as ruff would (double-quoted
    strings); a size that derives from the model settings (a `Dim`) is its expression over
    `cfg`, a `Setting` the Config field, a `Ratio` its quotient."""
    if isinstance(value, Setting):
        return f"cfg.{value.name}"
    if isinstance(value, Ratio):
        return f"{value.numerator} / ({code(value.denominator)})"
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
