"""Verify tests run tiny float64 models: one torch thread is as fast, and it avoids OpenMP
spin-waiting (which made these tests 20x slower on a busy 2-core machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
