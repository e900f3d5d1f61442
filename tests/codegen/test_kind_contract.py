"""The contract between a kind and its runtime class, checked for every kind of `nlc.kinds`:
the runtime module built from the kind's own description (`emit`, on the meta device: no
memory, no numbers) has exactly the parameters the kind declares for its weight states (names
as the emitted state_dict keys them, shapes), and exactly the update groups the kind declares,
at the declared periods, carrying the in-context states the IR gives the component. A kind
that retyped a runtime name wrongly, or a runtime that renamed one, fails here, not in a
trained model."""

from __future__ import annotations

import pytest
import torch
from nlc_runtime.exec.clock import StreamingModule, Updating

from nlc.ir.dim import symbolic
from nlc.ir.nodes import StateKind
from nlc.kinds import KINDS
from nlc.kinds.emission import Call, Construct
from nlc.spec.common import ModelSettings

MODEL = ModelSettings(vocab_size=32, d_model=16, n_heads=2, context=16)
# the values of the Config fields a constructor may read (the emitted Config's defaults)
SETTINGS = {"impl": "chunked", "attn_impl": "sdpa"}

CASES = [
    pytest.param(name, i, id=f"{name}-{i}")
    for name, cls in KINDS.items()
    if cls.runtimes
    for i in range(len(cls.examples))
]


def _emit(name: str, i: int):
    cls = KINDS[name]
    component = cls.model_validate({"kind": name, "name": "c", **cls.examples[i]})
    settings = symbolic(MODEL)  # sizes as Config expressions, as code generation sees them
    return component, component.emit(settings.d_model, settings, None)


def _build(construct: Construct):
    with torch.device("meta"):
        return construct.build(SETTINGS)


@pytest.mark.parametrize("name, i", CASES)
def test_the_runtime_module_has_the_parameters_and_groups_the_kind_declares(name, i):
    component, em = _emit(name, i)
    assert em.module is not None, f"{name} declares runtimes but emitted an inline op"
    assert em.module.runtime in type(component).runtimes
    module = _build(em.module)
    assert isinstance(module, em.module.runtime.load())

    decls = {d.local: d for d in component.state_decls(MODEL)}
    tensors = component.tensors(MODEL.d_model, MODEL)
    declared = {
        name: shape
        for local, d in decls.items()
        if d.kind is StateKind.WEIGHT
        for name, shape in tensors.get(local, [])
    }
    built = {n: tuple(p.shape) for n, p in module.named_parameters()}
    assert built == declared

    periods = getattr(module, "periods", {})
    assert periods == {g.name: g.period for g in em.groups}
    assert set(periods) <= set(getattr(module, "GROUPS", periods)), "an undeclared group"
    # every in-context state of the component becomes visible in exactly one group, at its
    # period; a group with no states resets a cache (no chunk rule)
    in_context = {
        local
        for local, d in decls.items()
        if d.kind in (StateKind.MEMORY, StateKind.MOMENTUM, StateKind.MLP_LEVEL)
    }
    carried = [s for g in em.groups for s in g.states]
    assert sorted(carried) == sorted(in_context)
    for g in em.groups:
        assert all(decls[s].period.tokens == g.period for s in g.states)
        assert g.chunk == bool(g.states)

    assert em.stateful == isinstance(module, StreamingModule)
    assert isinstance(module, Updating) or not em.groups
    assert em.clocked == bool(em.groups) == (em.call is Call.SPAN)
    assert getattr(module, "flush", True) == em.flush


def test_every_runtime_a_kind_declares_is_built_by_one_of_its_examples():
    for name, cls in KINDS.items():
        used = {e.module.runtime for e in (_emit(name, i)[1] for i in range(len(cls.examples)))
                if e.module is not None}  # fmt: skip
        assert used == set(cls.runtimes), name
