"""The shipped specs compiled once per test session, shrunk for speed (`helpers.tiny_spec`)."""

from __future__ import annotations

import pytest

from tests.codegen.helpers import compile_to, tiny_spec
from tests.conftest import SPECS

CPU_SPECS = [
    "transformer",
    "titans-lmm",
    "titans-mac",
    "titans-mag",
    "titans-mal",
    "hope",
    "hope-attention",
    "hope-lm",
]
GPU_PRESETS = ["titans-lmm-340m", "titans-lmm-760m", "hope-340m", "hope-760m"]  # run shrunk


@pytest.fixture(scope="session")
def emitted(tmp_path_factory):
    """Spec name -> the imported model.py of its shrunk copy."""
    root = tmp_path_factory.mktemp("emitted")
    return {
        name: compile_to(tiny_spec(SPECS / f"{name}.yaml", root / f"{name}.yaml"), root / name)
        for name in CPU_SPECS + GPU_PRESETS
    }
