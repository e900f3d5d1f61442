"""Kind `embedding`: token ids -> vectors of width d_model (`nn.Embedding`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.ir.dim import Dim
from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Call, Construct, Emission, Runtime

EMBEDDING = Runtime("torch.nn", "Embedding", alias="nn")


class Embedding(ComponentBase):
    """Token embedding: ids -> vectors of width d_model."""

    kind: Literal["embedding"]
    reads_tokens: ClassVar[bool] = True
    runtimes: ClassVar[tuple[Runtime, ...]] = (EMBEDDING,)

    def out_width(self, in_widths, model):
        return model.d_model

    def tensors(self, d_in, model):
        return {"W": [("weight", (model.vocab_size, model.d_model))]}

    def emit(self, d, model, tie_attr):
        sizes = (Dim(model.vocab_size, "vocab_size"), Dim(model.d_model, "d_model"))
        return Emission(Construct(EMBEDDING, sizes), Call.MODULE)


KIND = Embedding
