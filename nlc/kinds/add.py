"""Kind `add`: the residual combinator, the sum of its inputs."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Call, Emission


class Add(ComponentBase):
    """Residual combinator: the sum of its inputs."""

    kind: Literal["add"]
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None

    def emit(self, d, model, tie_attr):
        return Emission(None, Call.SUM, inputs=0)


KIND = Add
