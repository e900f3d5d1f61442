"""The small training helpers emitted train.py imports from nlc_runtime."""

from __future__ import annotations

import json

import pytest
import torch
from nlc_runtime.exec.state import detach_state
from nlc_runtime.optim.schedule import cosine_lr
from nlc_runtime.training.report import Metrics


def test_cosine_lr_warms_up_peaks_and_decays_to_the_floor():
    lrs = [cosine_lr(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # monotone after warm-up
    assert cosine_lr(100, 100, 1.0, 10) == pytest.approx(0.1)
    assert cosine_lr(500, 100, 1.0, 10) == pytest.approx(0.1)  # past the end: stays at floor


def test_detach_state_cuts_the_graph_in_nested_dicts_and_lists():
    w = torch.ones(2, requires_grad=True)
    state = {"layers": [{"W0": w * 2}, {"W0": w * 3}], "m": {"S": w + 1}}
    out = detach_state(state)
    assert not out["layers"][1]["W0"].requires_grad and not out["m"]["S"].requires_grad
    assert torch.equal(out["layers"][1]["W0"], torch.full((2,), 3.0))


def test_metrics_resume_drops_records_past_the_checkpoint(tmp_path):
    m = Metrics(tmp_path, 0, enabled=True)
    for step in (1, 2, 3):
        m.log(step=step, loss=float(step))
    m.close()
    Metrics(tmp_path, 2, enabled=True).close()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]


def test_flush_subnormals_computes_subnormal_floats_as_zero():
    """Decaying memories carried along long streams reach subnormal floats (slow on x86):
    train.py, sample.py and nlc eval/generate flush them."""
    import torch
    from nlc_runtime.exec.state import flush_subnormals

    # torch's default first: an nlc eval earlier in this process flushed them, as the CLI
    # does (and a tensor made while flushing holds a zero, not 1e-39)
    torch.set_flush_denormal(False)
    tiny = torch.tensor([1e-39, 1.0])
    assert (tiny * 1.0)[0] != 0
    flush_subnormals()
    try:
        assert (tiny * 1.0)[0] == 0 and (tiny * 1.0)[1] == 1.0
    finally:
        torch.set_flush_denormal(False)
