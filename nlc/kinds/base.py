"""What every component kind has: the fields and hooks of `ComponentBase`, the shape helpers
the kinds share, and `HiddenWidth` (the hidden width of an MLP-like kind).

A kind is a pydantic model (its YAML fields, unknown keys rejected) plus pure methods, so
everything nlc knows about a kind lives in its class, one module per kind in `nlc.kinds`:
- `state_decls(model)`: the states it owns, with their periods and update signals (`lower`);
- `out_width(in_widths, model)`: the width of its output (`infer_shapes`);
- `tensors(in_width, model)`: the tensors of each state (`infer_shapes`, parameter counts); the
  outer weights' tensors (`W`, an outer CMS level) are named and shaped as the runtime module's
  parameters, so `<component>.<tensor>` is a key of the emitted model's state_dict;
- `emit(d, model, tie_attr)`: a typed description of its runtime call (`nlc.kinds.emission`:
  the runtime class and its arguments, how the step calls it, its update groups), which code
  generation renders; `runtimes`, the runtime classes it may build, and `examples`, field sets
  the kind contract test (tests/codegen/test_kind_contract.py) builds them from;
- `memory_shape()`, `freezes`: how a parametric memory compares and freezes (verify, collapse);
- `canonical_parameters(params)`, `part_parameters(part, params)`: where the parameters a
  rewrite gives it (or a part of it) sit in the module that runs it (`nlc.verify.numerical`).
`ShapeProblem` carries a field path relative to the component, so errors point at the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, model_validator

from nlc.ir.nodes import Signal, StateDecl, StateKind
from nlc.ir.period import FROZEN_PERIOD, OUTER_PERIOD
from nlc.kinds.emission import CodegenError, Emission, Runtime
from nlc.spec.common import Identifier, ModelSettings, Strict, WeightsPeriod

Tensors = dict[str, list[tuple[str, tuple[int, ...]]]]
Shapes = Mapping[str, tuple[int, ...]]  # a module's parameters (names relative to it) -> shapes
# How a parameter of a kind sits in a module's parameter: None (as is), "T" (transposed) or
# (start, stop), a block of its rows.
View = None | str | tuple[int, int]
Placement = dict[str, tuple[str, View]]  # local name -> (module parameter, view)


class ShapeProblem(Exception):
    """A width or head count that does not fit; `loc` is relative to the component."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


class ComponentBase(Strict):
    """Fields every component has."""

    name: Identifier
    inputs: list[str] | None = Field(
        None, description="Names of components (or 'in') it reads; default: the previous one."
    )
    weights: WeightsPeriod = Field(
        "outer", description="Period of its outer parameters: 'outer' (trained) or 'frozen'."
    )

    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    reads_tokens: ClassVar[bool] = False  # True only for the embedding
    # the runtime classes its emissions build (the emitted names stay clear of them:
    # `nlc.codegen.namespace`; the kind contract test checks every emission uses one)
    runtimes: ClassVar[tuple[Runtime, ...]] = ()
    # field sets (beside `kind` and `name`) that the kind contract test builds the runtime
    # module from: one per distinct runtime call of the kind
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    # a single memory of this kind that never learns in context reads as a `frozen_memory`
    # (`nlc.passes.freeze_static_memories`)
    freezes: ClassVar[bool] = False

    # --- what the passes ask of a kind -------------------------------------------------------
    def state_decls(self, model: ModelSettings) -> list[StateDecl]:
        """States this component owns; by default one weight group if it has parameters."""
        return [self._weight_decl()] if self.tensors(model.d_model, model).get("W") else []

    def out_width(self, in_widths: list[int], model: ModelSettings) -> int:
        return same_width(in_widths)

    def tensors(self, d_in: int, model: ModelSettings) -> Tensors:
        return {}

    # --- what code generation asks of a kind ------------------------------------------------
    def emit(self, d: int, model: ModelSettings, tie_attr: str | None) -> Emission:
        """The module that runs this component, the expression that calls it and its update
        groups. `d`: its (first) input width; `model`: the settings, sizes as expressions of
        the emitted Config (`nlc.ir.dim`); `tie_attr`: the attribute of the embedding a tied
        head reads, if any."""
        raise CodegenError(("kind",), f"no code generator for kind '{self.kind}'")

    def memory_shape(self) -> tuple | None:
        """(depth, expansion, residual, conv) of a single parametric memory, the family that
        `nlc.passes.canonical_memory` compares by what it computes; None for other kinds."""
        return None

    def canonical_parameters(self, params: Shapes) -> Placement:
        """This component's parameters (by their local names) in `params`, the parameters of
        the module that runs it: by default the module's own, as they are. A kind that a
        rewrite puts in place of another (`frozen_memory` for a memory that never learns)
        reads the other's module here."""
        return {name: (name, None) for name in params}

    def part_parameters(self, part: str, params: Shapes) -> Placement:
        """The parameters of `part` (`level0.mlp`), a component a rewrite made out of this one
        (`nlc.passes.expand_outer_cms`), in `params`, this component's module's parameters;
        none by default."""
        return {}

    # --- helpers ------------------------------------------------------------------------------
    def _weight_decl(self, local: str = "W") -> StateDecl:
        period = FROZEN_PERIOD if self.weights == "frozen" else OUTER_PERIOD
        signal = Signal.NONE if self.weights == "frozen" else Signal.LOSS
        return StateDecl(local, StateKind.WEIGHT, period, signal, loc=("weights",))


def same_width(in_widths: list[int]) -> int:
    if len(set(in_widths)) > 1:
        raise ShapeProblem(("inputs",), f"inputs have different widths {in_widths}")
    return in_widths[0]


def linear_params(name: str, out: int, d_in: int, bias: bool = False) -> list:
    """The parameters of an `nn.Linear` named `name`, as its state_dict names them."""
    return [(f"{name}.weight", (out, d_in))] + ([(f"{name}.bias", (out,))] if bias else [])


def norm_params(name: str, d: int) -> list:
    """The gain of an RMSNorm submodule named `name`."""
    return [(f"{name}.weight", (d,))]


def head_split(heads: int | None, d: int, model: ModelSettings) -> tuple[int, int]:
    h = heads if heads is not None else model.n_heads
    if d % h:
        raise ShapeProblem(("heads",), f"width {d} is not divisible by {h} heads")
    return h, d // h


class HiddenWidth(Strict):
    """The hidden width of an MLP: absolute (`hidden`) or a multiple of the input width
    (`expansion`, which scales with d_model in the emitted Config); at most one of them."""

    hidden: int | None = Field(
        None, gt=0, description="Hidden width in channels (fixed: does not scale with d_model)."
    )
    expansion: int | None = Field(
        None, gt=0, le=64, description="Hidden width as a multiple of the input width."
    )

    @model_validator(mode="after")
    def _one_width(self):
        if self.hidden is not None and self.expansion is not None:
            raise ValueError("set either 'hidden' (channels) or 'expansion' (x input width)")
        return self

    def hidden_width(self, d_in: int) -> int:
        if self.hidden is not None:
            return self.hidden
        if self.expansion is not None:
            return self.expansion * d_in
        return self.default_hidden(d_in)

    def default_hidden(self, d_in: int) -> int:
        return 4 * d_in

    def fixed_widths(self) -> tuple[str, ...]:
        """The width fields that are absolute channels (literals in the emitted code)."""
        return ("hidden",) if self.hidden is not None else ()
