"""Sizes that remember where they come from: `Dim`, an int that prints as an expression of the
model settings (`4 * d_model`, in code `4 * cfg.d_model`).

The front half computes every width at the spec's settings, and a Dim *is* that number: shape
checks, parameter counts and the IR printer see an int. Code generation writes its expression
instead, so the emitted `Config` configures: `Model(Config(d_model=256))` builds the widths the
spec gives with `--set model.d_model=256`. The arithmetic the kinds apply to widths keeps the
expression (`*`, `//`, `+` with ints and Dims; `dim_max`); any other operation gives a plain
int, a number right at the spec's settings only, which code generation writes as a literal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nlc.spec.common import ModelSettings

SETTINGS = ("vocab_size", "d_model", "n_heads", "context")
"""The model settings a size may depend on: fields of the spec's `model` and of the emitted
`Config` alike."""

_ADD, _MUL, _ATOM = 1, 2, 3  # precedence of an expression's outermost operator
_FIELD = re.compile(r"\b(" + "|".join(SETTINGS) + r")\b")


class Dim(int):
    """An int with `text`, the expression over `SETTINGS` names that gives it."""

    text: str
    prec: int

    def __new__(cls, value: int, text: str, prec: int = _ATOM) -> Dim:
        self = super().__new__(cls, value)
        self.text, self.prec = text, prec
        return self

    def __getnewargs__(self) -> tuple:  # copy and pickle keep the expression
        return int(self), self.text, self.prec

    @property
    def code(self) -> str:
        """The expression as Python reading the settings from `cfg`."""
        return _FIELD.sub(r"cfg.\1", self.text)

    def __mul__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return super().__mul__(other)
        if not isinstance(other, Dim):  # a number first: 4 * d_model
            if other == 1:
                return self
            return Dim(other * int(self), f"{other} * {_operand(self, _MUL + 1)}", _MUL)
        text = f"{_operand(self, _MUL)} * {_operand(other, _MUL + 1)}"
        return Dim(int(self) * int(other), text, _MUL)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __floordiv__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return super().__floordiv__(other)
        if other == 1 and not isinstance(other, Dim):
            return self
        text = f"{_operand(self, _MUL)} // {_operand(other, _MUL + 1)}"
        return Dim(int(self) // int(other), text, _MUL)

    def __add__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return super().__add__(other)
        if other == 0 and not isinstance(other, Dim):
            return self
        return Dim(int(self) + int(other), f"{self.text} + {_operand(other, _ADD + 1)}", _ADD)

    def __radd__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return super().__radd__(other)
        if other == 0:  # sum() starts at 0
            return self
        return Dim(int(other) + int(self), f"{other} + {_operand(self, _ADD + 1)}", _ADD)


def _operand(x: int, prec: int) -> str:
    """`x` as an operand that needs at least precedence `prec` (parenthesised otherwise)."""
    if not isinstance(x, Dim):
        return str(int(x))
    return x.text if x.prec >= prec else f"({x.text})"


def _scaled(x: int) -> tuple[int, str] | None:
    """(k, base) when `x` is `k * base` (k = 1: a bare setting); None otherwise."""
    if not isinstance(x, Dim):
        return None
    if x.prec == _ATOM:
        return 1, x.text
    match = re.fullmatch(r"(\d+) \* (\w+)", x.text)
    return (int(match[1]), match[2]) if match else None


def dim_max(a: int, b: int) -> int:
    """max(a, b), keeping the expression: the larger multiple of one setting when both are
    (`max(d_model, 4 * d_model)` is `4 * d_model`), else `max(...)` when either depends on
    the settings (which one is larger may change with them)."""
    if not isinstance(a, Dim) and not isinstance(b, Dim):
        return max(a, b)
    sa, sb = _scaled(a), _scaled(b)
    if sa and sb and sa[1] == sb[1]:
        return a if sa[0] >= sb[0] else b
    text = f"max({_operand(a, _ADD)}, {_operand(b, _ADD)})"
    return Dim(max(int(a), int(b)), text)


def code(x: int) -> str:
    """Python source for a size: its expression when it is a Dim, else the literal."""
    return x.code if isinstance(x, Dim) else repr(int(x))


def symbolic(model: ModelSettings) -> ModelSettings:
    """The settings with every size a Dim named after its field (`d_model` -> `cfg.d_model`)."""
    return model.model_copy(update={f: Dim(getattr(model, f), f) for f in SETTINGS})
