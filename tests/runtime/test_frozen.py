"""A Titans memory that never learns in context is its read path at M_0 (`FrozenMemory`):
inner lr 0 without forgetting, or a period longer than the sequence. Float64, both the
per-token and the chunk-parallel path, outputs and gradients."""

import pytest
import torch
from nlc_runtime.exec.stream import run
from nlc_runtime.memories.frozen import FrozenMemory
from nlc_runtime.memories.titans import NeuralMemory

pytestmark = pytest.mark.usefixtures("f64")


def _frozen_copy(m: NeuralMemory, **kw) -> FrozenMemory:
    f = FrozenMemory(8, n_heads=2, **kw)
    hd = m.H * m.D
    with torch.no_grad():
        f.to_q.weight.copy_(m.to_qkv.weight[:hd])
        if f.conv is not None:
            f.conv.weight.copy_(m.conv.weight[:hd])
        for a, b in zip(f.init_W, m.init_W, strict=True):
            a.copy_(b)
        for name in ("out_norm", "to_gate", "proj"):
            getattr(f, name).weight.copy_(getattr(m, name).weight)
    return f


CASES = {
    # lr 0 while momentum stays data-dependent: the per-gate kinds keep theta at 0
    "lr0-data-momentum": (dict(gates=("const", "data", "data"), lr_const=0.0, forget=False), 4),
    "lr0-residual-matrix": (
        dict(depth=1, residual=True, gates="const", lr_const=0.0, forget=False, conv=False),
        3,
    ),
    "period-beyond-sequence": (dict(), 64),  # learns, but only after the last token
}


@pytest.mark.parametrize("impl", ["naive", "chunked"])
@pytest.mark.parametrize("case", list(CASES))
def test_static_memory_is_its_read_path(case, impl):
    kw, chunk = CASES[case]
    torch.manual_seed(0)
    m = NeuralMemory(8, n_heads=2, chunk=chunk, impl=impl, **kw)
    shape = {k: kw[k] for k in ("depth", "residual", "conv") if k in kw}
    f = _frozen_copy(m, **shape)
    x = torch.randn(2, 11, 8)
    y_mem, y_frozen = run(m, x)[0], f(x)[0]
    assert (y_mem - y_frozen).abs().max().item() < 1e-12
    R = torch.randn(y_mem.shape)
    (y_mem * R).sum().backward()
    (y_frozen * R).sum().backward()
    hd = m.H * m.D
    assert (m.to_qkv.weight.grad[:hd] - f.to_q.weight.grad).abs().max().item() < 1e-12
    assert (m.proj.weight.grad - f.proj.weight.grad).abs().max().item() < 1e-12
    # keys, values and gates feed only updates that never change an output
    assert m.to_qkv.weight.grad[hd:].abs().max().item() == 0.0
    gate_grad = m.to_gates.weight.grad if hasattr(m, "to_gates") else None
    assert gate_grad is None or gate_grad.abs().max().item() == 0.0


def test_constant_lr_with_data_dependent_momentum():
    m = NeuralMemory(8, n_heads=2, gates=("const", "data", "data"), lr_const=0.25)
    lr, mom, decay = m.gate_values(torch.randn(2, 5, 8))
    assert torch.all(lr == 0.25)
    assert mom.std() > 0 and decay.std() > 0
