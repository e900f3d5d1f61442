"""The chunked paths are torch.compile-clean: no graph breaks (torch._dynamo.explain), and the
compiled chunk kernels give the eager values and gradients."""

import pytest
import torch
import torch._dynamo as dynamo
from nlc_runtime.cms import CMS
from nlc_runtime.compile import compile_chunk_kernels, reset_chunk_kernels
from nlc_runtime.selfmod import SelfModifyingTitans
from nlc_runtime.testing import assert_rel_close, grads, scalar_probe
from nlc_runtime.titans import NeuralMemory

MODULES = {
    "lmm-delta-momentum": lambda: (NeuralMemory(16, 2, chunk=4, delta="all"), False),
    "selfmod-two-chunks": lambda: (
        SelfModifyingTitans(16, 2, chunk_mem=4, chunk_other=2, momentum=0.9),
        False,
    ),
    "cms-lm-grad": lambda: (CMS(16, periods=[2, 4], hidden=2), True),
    "cms-nested-local": lambda: (
        CMS(16, periods=[2, 4], hidden=2, variant="nested", signal="local"),
        False,
    ),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_no_graph_breaks(name):
    torch.manual_seed(0)
    m, teach = MODULES[name]()
    x = torch.randn(2, 11, 16)
    t = torch.randn(2, 11, 16) if teach else None

    def f(x, t):
        y, st = m(x, teach=t) if teach else m(x)
        return y, st

    dynamo.reset()
    ex = dynamo.explain(f)(x, t)
    assert ex.graph_break_count == 0, [str(r.reason) for r in ex.break_reasons]
    assert ex.graph_count == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lmm-delta-momentum"])
def test_compiled_chunk_kernels_match_eager(name):
    torch.manual_seed(0)
    m, teach = MODULES[name]()
    x = torch.randn(2, 8, 16, requires_grad=True)  # whole chunks only: one graph to compile
    t = torch.randn(2, 8, 16) if teach else None
    params = list(m.parameters()) + [x]

    def run():
        out = m(x, teach=t) if teach else m(x)
        return out, grads(scalar_probe(out), params)

    ref = run()
    dynamo.reset()
    compile_chunk_kernels(dynamic=False)
    try:
        got = run()
    finally:
        reset_chunk_kernels()
    assert_rel_close(got[0], ref[0], 1e-5, "outputs")
    assert_rel_close(got[1], ref[1], 1e-4, "grads")
