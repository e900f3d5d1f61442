"""The segment steps are torch.compile-clean: a module's forward on one segment, its update at
a boundary and a CMS's `learn` trace without graph breaks (torch._dynamo.explain), and the
compiled chunk kernels give the eager values and gradients."""

import pytest
import torch
import torch._dynamo as dynamo
from nlc_runtime.exec.compile import compile_chunk_kernels, reset_chunk_kernels
from nlc_runtime.exec.stream import run
from nlc_runtime.memories.cms import CMS
from nlc_runtime.memories.selfmod import SelfModifyingTitans
from nlc_runtime.memories.titans import NeuralMemory
from nlc_runtime.testing import assert_rel_close, grads, scalar_probe

MODULES = {
    "lmm-delta-momentum": lambda: NeuralMemory(16, 2, chunk=4, delta="all"),
    "selfmod-two-chunks": lambda: SelfModifyingTitans(
        16, 2, chunk_mem=4, chunk_other=2, momentum=0.9
    ),
    "cms-lm-grad": lambda: CMS(16, periods=[2, 4], hidden=2),
    "cms-nested-local": lambda: CMS(16, periods=[2, 4], hidden=2, variant="nested", signal="local"),
}


# tracing is torch.compile work (slow): the unit run traces one module, `make test` all
TRACED_IN_UNIT_RUN = "cms-lm-grad"


@pytest.mark.parametrize(
    "name",
    [n if n == TRACED_IN_UNIT_RUN else pytest.param(n, marks=pytest.mark.slow) for n in MODULES],
)
def test_no_graph_breaks(name):
    torch.manual_seed(0)
    m = MODULES[name]()
    x = torch.randn(2, 2, 16)
    teach = torch.randn(2, 2, 16)

    def f(x, t):
        y, st = m(x, m.init_state(2))
        if isinstance(m, CMS) and m.lm_signal:
            xs, _ = st.pop("x"), st.pop("y")
            st = m.learn(st, [(xs, t)])
        for group in m.periods:
            st = m.update(st, group)
        return y, st

    dynamo.reset()
    ex = dynamo.explain(f)(x, teach)
    assert ex.graph_break_count == 0, [str(r.reason) for r in ex.break_reasons]
    assert ex.graph_count == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lmm-delta-momentum"])
def test_compiled_chunk_kernels_match_eager(name):
    torch.manual_seed(0)
    m = MODULES[name]()
    x = torch.randn(2, 8, 16, requires_grad=True)  # whole chunks only: one graph to compile
    params = list(m.parameters()) + [x]

    def go():
        out = run(m, x)
        return out, grads(scalar_probe(out), params)

    ref = go()
    dynamo.reset()
    compile_chunk_kernels(dynamic=False)
    try:
        got = go()
    finally:
        reset_chunk_kernels()
    assert_rel_close(got[0], ref[0], 1e-5, "outputs")
    assert_rel_close(got[1], ref[1], 1e-4, "grads")
