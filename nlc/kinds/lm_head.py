"""Kind `lm_head`: the output projection to vocabulary logits (`nn.Linear`), or the
embedding's weights read again when tied."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.ir.dim import Dim
from nlc.kinds.base import ComponentBase, ShapeProblem
from nlc.kinds.emission import Call, CodegenError, Construct, Emission, Runtime
from nlc.kinds.linear import LINEAR


class LMHead(ComponentBase):
    """Output projection to vocabulary logits, optionally tied to an embedding's weights."""

    kind: Literal["lm_head"]
    tie: str | None = Field(
        None, description="Name of an embedding component to share weights with."
    )
    runtimes: ClassVar[tuple[Runtime, ...]] = (LINEAR,)

    def out_width(self, in_widths, model):
        if in_widths[0] != model.d_model and self.tie:
            raise ShapeProblem(
                ("tie",), f"a tied head needs width {model.d_model}, got {in_widths[0]}"
            )
        return model.vocab_size

    def tensors(self, d_in, model):
        return {} if self.tie else {"W": [("weight", (model.vocab_size, d_in))]}

    def emit(self, d, model, tie_attr):
        if self.tie:
            if tie_attr is None:
                raise CodegenError(
                    ("tie",), "a tied head must sit at the same level as its embedding"
                )
            return Emission(None, Call.TIED, tied=tie_attr)
        vocab = Dim(model.vocab_size, "vocab_size")
        return Emission(Construct(LINEAR, (d, vocab), {"bias": False}), Call.MODULE)


KIND = LMHead
