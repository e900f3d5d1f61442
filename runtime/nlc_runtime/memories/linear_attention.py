"""Linear attention as a matrix memory with the dot-product objective (NL §2.1, Eqs. 12-16).

A matrix memory M trained in context by gradient descent on l(M; k, v) = -<M k, v> with
learning rate 1 writes M_t = M_{t-1} + v_t k_t^T and reads o_t = M_{t-1} q_t: unnormalised
causal linear attention, o_t = M_0 q_t + sum_{s<t} (k_s . q_t) v_s (reading before writing,
docs/design.md; the memory starts at its meta-learned M_0). With a period C > 1 the memory is
read at its chunk-start value and takes the chunk's sum of writes at the chunk's end; with
`forget` the write decays the old memory, M_t = a_t M_{t-1} + lr_t v_t k_t^T (gated linear
attention).

The layer is `NeuralMemory` with objective "dot" and depth 1: the same projections, per-token
reference (`lmm_naive`) and chunk-parallel form (`lmm_chunked`, whose closed form reduces to
M_c = A_cum M_0 + K^T diag(A[c, :] lr) V for this objective), and state in/out as
{"W0": (B, H, D, D)} -- so `nlc verify` can map a `linear_attention` onto a `titans_memory`
with the dot objective weight for weight.
"""

from __future__ import annotations

from nlc_runtime.memories.titans import NeuralMemory


class LinearAttention(NeuralMemory):
    """x (B, T, C) -> (y (B, T, C), new_state): NeuralMemory with the linear-attention
    defaults (matrix memory, dot objective, gd with constant lr 1, every token, no conv)."""

    def __init__(self, dim: int, n_heads: int = 4, **kw):
        defaults = dict(
            depth=1, objective="dot", chunk=1, momentum=False, forget=False, delta="none",
            gates="const", lr_const=1.0, conv=False,
        )  # fmt: skip
        super().__init__(dim, n_heads, **{**defaults, **kw})
