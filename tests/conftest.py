"""Shared test fixtures and options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def pytest_addoption(parser):
    parser.addoption(
        "--record-golden",
        action="store_true",
        help="re-record golden files instead of comparing against them",
    )


@pytest.fixture
def record_golden(request) -> bool:
    return bool(request.config.getoption("--record-golden"))


@pytest.fixture(autouse=True)
def _subnormals_as_torch_starts():
    """`nlc eval` and `nlc generate` run in-process turn on torch's flush of subnormal floats
    (`nlc_runtime.exec.state.flush_subnormals`), which holds for the whole process: even Python
    then parses 1e-320 as 0. Each test starts from torch's default, whatever ran before."""
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)


def property_examples(sample: int, full: int) -> list:
    """The example counts of a property test run twice: `sample` examples in the unit run
    (`make test-fast`), all `full` in `make test` (that case marked slow). Parametrize the test
    with `examples` and give the inner `@given` function `max_examples=examples`."""
    return [
        pytest.param(sample, id="sample"),
        pytest.param(full, id="full", marks=pytest.mark.slow),
    ]
