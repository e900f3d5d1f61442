"""Kind `frozen_memory`: the read path of a Titans memory that never learns in context
(`FrozenMemory`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase, head_split, linear_params, norm_params
from nlc.kinds.emission import Call, Construct, Emission, Runtime
from nlc.kinds.memory import memory_mlp_shapes

FROZEN_MEMORY = Runtime("nlc_runtime.memories.frozen", "FrozenMemory")


class FrozenMemory(ComponentBase):
    """The read path of a Titans memory that never learns in context, as a static map:
    y = W_o(RMSNorm(M_0(q)) * silu(x W_g)), q = l2norm(silu(conv(x W_q))) per head, with M_0
    an outer weight. What a `titans_memory` with inner lr 0 and no forgetting (or a period of
    at least the context) computes: its keys, values and gates only feed updates that never
    change an output (`nlc.passes.freeze_static_memories` writes that rule)."""

    kind: Literal["frozen_memory"]
    heads: int | None = Field(None, gt=0, description="Default: model.n_heads.")
    depth: int = Field(2, ge=1, description="Layers of the memory MLP; 1 = matrix memory.")
    expansion: int = Field(2, ge=1, description="Hidden width of the memory MLP / head width.")
    residual: bool = Field(False, description="M(x) = x + MLP(x) (as HOPE's memories).")
    conv: int | None = Field(4, gt=0, description="Depthwise conv window after q; null = none.")

    runtimes: ClassVar[tuple[Runtime, ...]] = (FROZEN_MEMORY,)
    examples: ClassVar[tuple[dict, ...]] = ({}, {"depth": 1, "conv": None, "residual": True})

    def tensors(self, d_in, model):  # the runtime's FrozenMemory
        h, dh = head_split(self.heads, d_in, model)
        w = linear_params("to_q", d_in, d_in) + (
            [("conv.weight", (d_in, self.conv))] if self.conv else []
        )
        m = memory_mlp_shapes(self.depth, self.expansion, h, dh)
        w += [(f"init_W.{i}", s) for i, (_, s) in enumerate(m)]
        # RMSNorm(.) * silu(x W_g), then the output projection
        return {
            "W": w
            + norm_params("out_norm", d_in)
            + linear_params("to_gate", d_in, d_in)
            + linear_params("proj", d_in, d_in)
        }

    def canonical_parameters(self, params):
        """Its own module's parameters; or, when it stands for a memory that never learns
        (`freeze_static_memories`) and the module is that memory's `NeuralMemory`, the read
        path in it: `to_q` and the conv are the q rows (the first third) of `to_qkv` and of
        the conv, the rest as named; the keys, values and gates are left over."""
        qkv = params.get("to_qkv.weight")
        if qkv is None:
            return super().canonical_parameters(params)
        q_rows = (0, qkv[0] // 3)
        read: dict = {"to_q.weight": ("to_qkv.weight", q_rows)}
        if "conv.weight" in params:
            read["conv.weight"] = ("conv.weight", q_rows)
        keep = ("init_W.", "out_norm.", "to_gate.", "proj.")
        return read | {name: (name, None) for name in params if name.startswith(keep)}

    def emit(self, d, model, tie_attr) -> Emission:
        heads = self.heads or model.n_heads
        args = dict(
            n_heads=heads,
            depth=self.depth,
            expansion=float(self.expansion),
            residual=self.residual,
            conv=bool(self.conv),
            conv_kernel=self.conv or 4,
        )
        return Emission(Construct(FROZEN_MEMORY, (d,), args), Call.STREAM)


KIND = FrozenMemory
