"""`products.mm`: the chunk kernels' small products are a @ b, eager and compiled (where a
product with few rows or few contraction terms becomes a broadcast product and a sum)."""

from __future__ import annotations

import pytest
import torch
from nlc_runtime.memories.products import FEW, mm

SHAPES = [
    ((4, 4, 4, 32), (5, 4, 4, 32, 64)),  # a read of 4 tokens by 5 stacked memories (broadcast)
    ((80, 32, 4), (80, 4, 64)),  # a sum of 4 outer products: the update H^T Z
    ((2, 3, 4, 4), (2, 3, 4, 16)),  # (c, c) @ (c, d): the delta rule's solve
    ((3, 16, 24), (3, 24, 40)),  # rows and contraction above FEW: stays a matmul
]


@pytest.mark.parametrize("sa,sb", SHAPES)
def test_mm_is_the_matrix_product_eager_and_compiled(sa, sb):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(sa, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(sb, dtype=torch.float64, generator=g, requires_grad=True)
    want = a @ b
    wa, wb = torch.autograd.grad(want.square().sum(), (a, b), retain_graph=True)
    fused = min(sa[-2:]) <= FEW
    compiled = torch.compile(mm, backend="eager", fullgraph=True)  # traced: is_compiling()
    for f in (mm, compiled):
        got = f(a, b)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        ga, gb = torch.autograd.grad(got.square().sum(), (a, b))
        torch.testing.assert_close(ga, wa, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gb, wb, rtol=1e-12, atol=1e-12)
    # what the compiler sees: a sum of products exactly where the product is small
    graph = []
    torch._dynamo.reset()
    torch.compile(mm, backend=lambda gm, _: graph.append(gm) or gm, fullgraph=True)(a, b)
    ops = {str(n.target) for n in graph[0].graph.nodes if n.op == "call_function"}
    assert any("matmul" in op for op in ops) != fused, ops
