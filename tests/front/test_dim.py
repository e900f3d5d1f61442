"""`nlc.ir.dim`: sizes that print as expressions of the model settings and evaluate, at any
settings, to what the front half computes there."""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import pytest

from nlc.ir.dim import Dim, code, dim_max, symbolic
from nlc.spec.schema import ModelSettings

SPEC = ModelSettings(vocab_size=256, d_model=128, n_heads=4, context=64)
OTHER = SimpleNamespace(vocab_size=1000, d_model=96, n_heads=3, context=32)


def _sizes(m):
    """The width arithmetic the kinds do, on plain ints or on Dims."""
    d, h = m.d_model, m.n_heads
    return [d, 4 * d, (8 * d) // 3, d // h, 2 * (d // h), dim_max(d, 4 * d), dim_max(d, 200),
            d + m.context, m.vocab_size * 1]  # fmt: skip


def test_sizes_are_their_numbers_and_their_expressions_evaluate_at_other_settings():
    sym = _sizes(symbolic(SPEC))
    assert sym == _sizes(SPEC)  # a Dim is the number at the spec's settings
    assert all(isinstance(x, Dim) for x in sym)
    assert [eval(code(x), {"cfg": OTHER}) for x in sym] == _sizes(OTHER)  # noqa: S307


def test_printing():
    m = symbolic(SPEC)
    assert code(4 * m.d_model) == "4 * cfg.d_model"
    assert code((8 * m.d_model) // 3) == "8 * cfg.d_model // 3"
    assert code(2 * (m.d_model // m.n_heads)) == "2 * (cfg.d_model // cfg.n_heads)"
    assert code(dim_max(m.d_model, 4 * m.d_model)) == "4 * cfg.d_model"  # one setting: simplified
    assert code(dim_max(m.d_model, 200)) == "max(cfg.d_model, 200)"  # may switch with d_model
    assert code(256) == "256" and m.d_model.text == "d_model"


@pytest.mark.parametrize("other", [1.5, 0.5])
def test_other_operations_give_plain_numbers(other):
    d = symbolic(SPEC).d_model
    assert not isinstance(other * d, Dim) and other * d == other * 128
    assert type(d % 3) is int and type(d - 1) is int


def test_copies_keep_the_expression():
    x = 4 * symbolic(SPEC).d_model
    for y in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert y == 512 and y.text == "4 * d_model"
