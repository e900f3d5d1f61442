"""Kind `embedding`: token ids -> vectors of width d_model (`nn.Embedding`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Emission


class Embedding(ComponentBase):
    """Token embedding: ids -> vectors of width d_model."""

    kind: Literal["embedding"]
    reads_tokens: ClassVar[bool] = True

    def out_width(self, in_widths, model):
        return model.d_model

    def tensors(self, d_in, model):
        return {"W": [("weight", (model.vocab_size, model.d_model))]}

    def emit(self, d, model, tie_attr):
        return Emission("nn.Embedding(cfg.vocab_size, cfg.d_model)", "{mod}({in0})")


KIND = Embedding
