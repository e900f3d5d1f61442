"""The runtime's one clock (`exec.clock`): cuts, due updates in plan order, the end of a
sequence, and the streaming-module protocols the runtime modules meet."""

from __future__ import annotations

import pytest
import torch.nn as nn
from nlc_runtime.exec import clock
from nlc_runtime.exec.clock import Dropping, StreamingModule, Updating
from nlc_runtime.exec.stream import finish_state, run
from nlc_runtime.exec.wavefront import fire_updates
from nlc_runtime.layers.attention import Attention
from nlc_runtime.layers.norms import RMSNorm
from nlc_runtime.memories.cms import CMS
from nlc_runtime.memories.titans import NeuralMemory


class Recorder(nn.Module):
    """A streaming module that records the updates and drops it is asked for."""

    def __init__(self, periods: dict, flush: bool = True):
        super().__init__()
        self.periods, self.flush = periods, flush

    def init_state(self, batch: int) -> dict:
        return {"log": ()}

    def forward(self, x, state):
        return x, state

    def update(self, state: dict, group: str) -> dict:
        return {"log": state["log"] + (("update", group),)}

    def drop(self, state: dict, group: str) -> dict:
        return {"log": state["log"] + (("drop", group),)}


def test_segments_cut_at_every_absolute_boundary():
    assert clock.segments(0, 10, [4]) == [(0, 4), (4, 8), (8, 10)]
    assert clock.segments(3, 10, [4, 6]) == [(0, 1), (1, 3), (3, 5), (5, 9), (9, 10)]
    assert clock.segments(5, 3, []) == [(0, 3)]
    assert clock.segments(4, 4, [4]) == [(0, 4)]  # a boundary at the call's end is no cut


def test_due_updates_fire_faster_first_then_in_declared_order():
    periods = {"slow": 8, "a": 4, "b": 4}
    assert clock.due(periods, 8) == ["a", "b", "slow"]
    assert clock.due(periods, 4) == ["a", "b"]
    assert clock.due(periods, 6) == []
    assert clock.due(periods, 8, lambda p: p > 4) == ["slow"]
    m = Recorder(periods)
    assert clock.fire_due(m, m.init_state(1), 16)["log"] == (
        ("update", "a"),
        ("update", "b"),
        ("update", "slow"),
    )


def test_the_end_of_a_sequence_flushes_or_drops_the_partial_chunks():
    flushing, dropping = Recorder({"a": 4, "b": 6}), Recorder({"a": 4, "b": 6}, flush=False)
    assert clock.finish_due(flushing, {"log": ()}, 8)["log"] == (("update", "b"),)
    assert clock.finish_due(dropping, {"log": ()}, 7)["log"] == (("drop", "a"), ("drop", "b"))
    assert finish_state(dropping, {"log": ()}, 12)["log"] == ()  # no partial chunk


def test_run_and_the_wavefront_fire_through_the_clock():
    import torch

    m = Recorder({"b": 3, "a": 2})
    _, state = run(m, torch.zeros(1, 6, 1))
    # after tokens 2, 3, 4, 6 (faster first at 6); 6 tokens: no partial chunk
    assert state["log"] == (
        ("update", "a"),
        ("update", "b"),
        ("update", "a"),
        ("update", "a"),
        ("update", "b"),
    )
    block = nn.Module()
    block.mem, block.norm = Recorder({"b": 3, "a": 2}), RMSNorm(4)
    fired = fire_updates(block, {"mem": {"log": ()}, "norm": None}, 6, lambda p: p <= 2)
    assert fired["mem"]["log"] == (("update", "a"),)


def test_runtime_modules_meet_the_streaming_protocols():
    memory = NeuralMemory(8, n_heads=2, chunk=4)
    assert isinstance(memory, Dropping)  # `partial_chunk: drop` is honoured
    cms = CMS(8, periods=[4, 8])
    assert isinstance(cms, Updating) and not isinstance(cms, Dropping)
    attention = Attention(8, 2)
    assert isinstance(attention, StreamingModule) and not isinstance(attention, Updating)
    assert not isinstance(RMSNorm(8), StreamingModule)
    with pytest.raises(AssertionError, match="cannot drop"):
        cms.flush = False  # a module that cannot drop is refused, not silently flushed
        clock.finish_due(cms, cms.init_state(1), 3)
