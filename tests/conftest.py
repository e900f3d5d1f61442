"""Shared test fixtures and options."""

from __future__ import annotations

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
