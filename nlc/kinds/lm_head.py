"""Kind `lm_head`: the output projection to vocabulary logits (`nn.Linear`), or the
embedding's weights read again when tied."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nlc.ir.dim import code
from nlc.kinds.base import ComponentBase, ShapeProblem
from nlc.kinds.emission import CodegenError, Emission


class LMHead(ComponentBase):
    """Output projection to vocabulary logits, optionally tied to an embedding's weights."""

    kind: Literal["lm_head"]
    tie: str | None = Field(
        None, description="Name of an embedding component to share weights with."
    )

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
            return Emission(None, f"F.linear({{in0}}, self.{tie_attr}.weight)")
        return Emission(f"nn.Linear({code(d)}, cfg.vocab_size, bias=False)", "{mod}({in0})")


KIND = LMHead
