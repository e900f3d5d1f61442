"""Stream training's model side (float64, the shipped specs shrunk): a row restarted by
`reset_rows` computes what a new sequence computes, the other rows go on untouched; windows fed
through `feed.Carry` equal one long call, and the graph is cut between them."""

from __future__ import annotations

import math

import pytest
import torch
from nlc_runtime.exec.stream import reset_rows
from nlc_runtime.training.feed import Carry
from nlc_runtime.training.streams import in_context_periods

from tests.codegen.conftest import CPU_SPECS

TOL = 1e-9


def _model(module):
    torch.manual_seed(0)
    return module.Model(module.Config()).double()


def _window(model) -> int:
    """A window every period divides (as `streams.check_window` demands of restarts)."""
    return math.lcm(8, *in_context_periods(model))


def _targets(model, x):
    """The next tokens as targets, for the spec whose CMS learns from the LM loss."""
    return {"targets": torch.roll(x, -1, 1)} if model.uses_targets else {}


@pytest.mark.parametrize("name", CPU_SPECS)
def test_a_restarted_row_is_a_new_sequence_and_only_that_row(emitted, name):
    model = _model(emitted[name])
    W = _window(model)
    gen = torch.Generator().manual_seed(3)
    first = torch.randint(0, 256, (2, W), generator=gen)  # both rows' first windows
    second = torch.randint(0, 256, (2, W), generator=gen)  # row 1: a new stream starts here
    with torch.no_grad():
        both = torch.cat([first, second], 1)
        targets = _targets(model, both).get("targets")
        kw = (
            (lambda s, e: {"targets": targets[:, s:e]})
            if targets is not None
            else (lambda s, e: {})
        )
        _, state = model(first, None, **kw(0, W))
        fresh = torch.tensor([False, True])
        y, _ = model(second, reset_rows(model, state, fresh), **kw(W, 2 * W))
        whole, _ = model(both, None, **kw(0, 2 * W))
        alone_kw = {"targets": targets[1:, W:]} if targets is not None else {}
        alone, _ = model(second[1:], None, **alone_kw)
    assert (y[0] - whole[0, W:]).abs().max().item() < TOL  # row 0 carried on
    assert (y[1] - alone[0]).abs().max().item() < TOL  # row 1 as a new sequence
    # and the reset mattered: row 1 with its old state carried differs
    with torch.no_grad():
        carried_on, _ = model(second, state, **kw(W, 2 * W))
    assert (carried_on[1] - alone[0]).abs().max().item() > 1e-6


@pytest.mark.parametrize("name", ["transformer", "hope", "titans-mag"])
def test_windows_through_carry_equal_one_call_and_cut_the_graph(emitted, name):
    """Three windows with the state carried (detached) between calls: the logits of one call
    over all three; the last window's loss reaches no parameter through the earlier windows
    (the meta-learned initial state gets no gradient from it when no row restarts)."""
    model = _model(emitted[name])
    W = _window(model)
    x = torch.randint(0, 256, (2, 3 * W), generator=torch.Generator().manual_seed(5))
    carry = Carry(model, None, stream=True, persist=False)
    fresh = torch.ones(2, dtype=torch.bool)
    ys = []
    for w in range(3):
        piece = x[:, w * W : (w + 1) * W]
        y, new = model(piece, carry.start(0, fresh))
        carry.keep(0, new)
        fresh = torch.zeros(2, dtype=torch.bool)
        ys.append(y)
    with torch.no_grad():
        whole, _ = model(x, None)
    assert (torch.cat(ys, 1) - whole).abs().max().item() < TOL
    loss = ys[-1].logsumexp(-1).mean()
    loss.backward()
    if name == "transformer":  # no in-context parameter; the graph is what matters below
        return
    init = [p for n, p in model.named_parameters() if "init" in n]
    assert init, "expected meta-learned initial states"
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in init)
