"""The memory-family claims: canonical memory signatures, DeltaNet, linear attention, HOPE vs
Titans, and Titans with memory lr 0."""

from __future__ import annotations

from nlc.passes.canonical_memory import memory_signature
from nlc.spec.kinds import DeltaMemory, LinearAttention, TitansMemory
from nlc.verify.cli import run_verify
from tests.conftest import SPECS

TITANS = str(SPECS / "titans-lmm.yaml")
DELTANET = str(SPECS / "claims" / "targets" / "deltanet.yaml")
MATRIX = ["layers.memory.depth=1", "layers.memory.conv=null"]


def test_signatures_ignore_the_kind_name():
    lin = LinearAttention(name="m", kind="linear_attention")
    titans = TitansMemory.model_validate(
        {"name": "m", "kind": "titans_memory", "depth": 1, "conv": None, "expansion": 4,
         "update": {"period": 1, "objective": "dot", "optimizer": {"kind": "gd", "lr": 1}}}
    )  # fmt: skip
    assert memory_signature(lin) == memory_signature(titans)
    delta = DeltaMemory(name="m", kind="delta_memory")
    assert memory_signature(delta)["delta_term"] is True
    assert memory_signature(delta) != memory_signature(lin)


def test_signature_keeps_what_changes_the_function():
    base = {"name": "m", "kind": "titans_memory"}
    deep = memory_signature(TitansMemory.model_validate(base))
    shallow = memory_signature(TitansMemory.model_validate({**base, "depth": 1}))
    assert deep["depth"] == 2 and deep["expansion"] == 2 and shallow["expansion"] is None
    assert memory_signature(TitansMemory.model_validate({**base, "conv": 2})) != deep


def test_plain_gd_matrix_memory_is_not_deltanet():
    # without the delta term (gd instead of dgd) the memory is not DeltaNet's recurrence
    rule = (
        "layers.memory.update={period: 1, objective: l2, optimizer: {kind: gd, lr: data_dependent}}"
    )
    result = run_verify(TITANS, DELTANET, [*MATRIX, rule], [], numerical=False)
    assert not result["holds"]
    assert any(
        "delta_term: False in titans-lmm, True in deltanet" in line
        for line in result["structural"]["differences"]
    )


def test_deltanet_claim_is_exact():
    rule = "layers.memory.update={period: 1, objective: l2, optimizer: {kind: dgd, lr: data_dependent}}"
    result = run_verify(TITANS, DELTANET, [*MATRIX, rule], [], tokens=16)
    assert result["holds"]
    assert result["numerical"]["max_output_diff"] < 1e-12


def test_hope_without_selfmod_differs_from_titans_only_in_the_residual_memory():
    when = [
        "layers.memory.self_modifying=false",
        "layers.memory.update={period: 16, objective: l2, optimizer: {kind: momentum, "
        "lr: data_dependent, momentum: data_dependent, retention: data_dependent}}",
        "layers.cms.levels=outer",
    ]
    result = run_verify(str(SPECS / "hope.yaml"), "titans-lmm", when,
                        ["layers.mlp.hidden=256"], numerical=False)  # fmt: skip
    diffs = result["structural"]["differences"]
    assert diffs[0] == "memory computes differ in residual: True in hope, False in titans-lmm"
    assert result["structural"]["periods"]["source"] == [16, "outer"]
    assert result["structural"]["periods"]["target"] == [16, "outer"]


def test_titans_lr0_collapses_to_the_levels_of_the_mlp_layout():
    for form in ("mac", "mag", "mal"):
        result = run_verify(str(SPECS / f"titans-{form}.yaml"), f"titans-{form}",
                            ["layers.memory.update.optimizer.lr=0"],
                            ["layers.memory={name: memory, kind: mlp, hidden: 64}"],
                            numerical=False)  # fmt: skip
        periods = result["structural"]["periods"]
        assert periods["source"] == periods["target"] == [1, "outer"], form
        assert not result["holds"]  # the static memory read path is not a plain MLP
        assert any(line.startswith("memory: 2 in") for line in result["structural"]["differences"])
