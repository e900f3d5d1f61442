"""The memory-family claims: canonical memory signatures, DeltaNet, linear attention, HOPE vs
Titans, and Titans with memory lr 0."""

from __future__ import annotations

from nlc.kinds.delta_memory import DeltaMemory
from nlc.kinds.linear_attention import LinearAttention
from nlc.kinds.titans_memory import TitansMemory
from nlc.passes.canonical_memory import memory_signature
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
    assert memory_signature(delta)["delta_term"] is False  # gd on l2 already is the delta rule
    assert memory_signature(delta) != memory_signature(lin)


def test_signature_keeps_what_changes_the_function():
    base = {"name": "m", "kind": "titans_memory"}
    deep = memory_signature(TitansMemory.model_validate(base))
    shallow = memory_signature(TitansMemory.model_validate({**base, "depth": 1}))
    assert deep["depth"] == 2 and deep["expansion"] == 2 and shallow["expansion"] is None
    assert memory_signature(TitansMemory.model_validate({**base, "conv": 2})) != deep


def _rule(kind: str) -> str:
    return f"layers.memory.update={{period: 1, objective: l2, optimizer: {{kind: {kind}, lr: data_dependent}}}}"


def test_dgd_matrix_memory_is_not_deltanet():
    # the extra DGD term makes it a different recurrence; the difference names the field
    result = run_verify(TITANS, DELTANET, [*MATRIX, _rule("dgd")], [], numerical=False)
    assert not result["holds"]
    assert any(
        "delta_term: True in titans-lmm, False in deltanet" in line
        for line in result["structural"]["differences"]
    )


def test_deltanet_claim_holds_structurally_and_numerically():
    result = run_verify(TITANS, DELTANET, [*MATRIX, _rule("gd")], [], tokens=16)
    assert result["structural"]["holds"]
    assert result["numerical"]["holds"]
    assert result["numerical"]["max_output_diff"] < 1e-9


def test_linear_attention_claim_holds_structurally_and_numerically():
    when = [
        *MATRIX,
        "layers.memory.update={period: 1, objective: dot, optimizer: {kind: gd, lr: 1}}",
    ]
    target = str(SPECS / "claims" / "targets" / "linear-attention.yaml")
    result = run_verify(TITANS, target, when, [], tokens=16)
    assert result["structural"]["holds"]
    assert result["numerical"]["holds"] and result["numerical"]["mapped_parameters"] == 20
    # lr 0.5 is another model: the signature names the field
    half = run_verify(TITANS, target, [*when[:2], when[2].replace("lr: 1", "lr: 0.5")], [],
                      numerical=False)  # fmt: skip
    assert not half["holds"]
    assert any(
        "lr: 0.5 in titans-lmm, 1.0 in" in line for line in half["structural"]["differences"]
    )


def test_matrix_memory_with_gd_computes_deltanets_recurrence():
    """The Titans runtime memory of depth 1, gd on ||k M - v||^2 every token, no momentum or
    forgetting, equals DeltaNet written out: o_t = q_t M_{t-1},
    M_t = (I - b_t k_t^T k_t) M_{t-1} + b_t k_t^T v_t (row-vector convention)."""
    import torch
    from nlc_runtime.exec.stream import run
    from nlc_runtime.memories.titans import NeuralMemory

    torch.manual_seed(0)
    m = NeuralMemory(16, n_heads=2, depth=1, chunk=1, momentum=False, forget=False,
                     delta="none", conv=False).double()  # fmt: skip
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    q, k, v, lr, decay, mom, _ = m.project(x)
    W, outs = m.init_state(2)["W0"].clone(), []
    for t in range(9):
        qt, kt, vt, b = q[:, :, t], k[:, :, t], v[:, :, t], lr[:, :, t][..., None, None]
        outs.append(torch.einsum("bhd,bhde->bhe", qt, W))
        kW = torch.einsum("bhd,bhde->bhe", kt, W)
        W = W - b * torch.einsum("bhd,bhe->bhde", kt, kW - vt)
    expected = m.output(torch.stack(outs, 2), x)
    for impl in ("chunked", "naive"):
        m.impl = impl
        y, state = run(m, x)
        assert (expected - y).abs().max().item() < 1e-13
        assert (state["W0"] - W).abs().max().item() < 1e-13


HOPE_NO_SELFMOD = [
    "layers.memory.self_modifying=false",
    "layers.memory.update={period: 16, objective: l2, optimizer: {kind: momentum, "
    "lr: {data_dependent: true, max: 0.05}, momentum: data_dependent, retention: data_dependent, "
    "normalize: true}}",
    "layers.cms.levels=outer",
    "layers.cms.activation=silu",
]
TITANS_MLP = ["layers.mlp.hidden=256", "layers.mlp.activation=silu"]


def test_hope_without_selfmod_differs_from_plain_titans_only_in_the_residual_memory():
    result = run_verify(str(SPECS / "hope.yaml"), "titans-lmm", HOPE_NO_SELFMOD, TITANS_MLP,
                        numerical=False)  # fmt: skip
    diffs = result["structural"]["differences"]
    assert diffs[0] == "memory computes differ in residual: True in hope, False in titans-lmm"
    assert result["structural"]["periods"]["source"] == [16, "outer"]
    assert result["structural"]["periods"]["target"] == [16, "outer"]


def test_hope_without_selfmod_is_titans_with_a_residual_memory():
    result = run_verify(str(SPECS / "hope.yaml"), "titans-lmm", HOPE_NO_SELFMOD,
                        ["layers.memory.residual=true", *TITANS_MLP], tokens=20)  # fmt: skip
    assert result["structural"]["holds"], result["structural"]["differences"]
    num = result["numerical"]
    assert num["holds"], num
    assert num["max_output_diff"] < 1e-9 and num["max_grad_diff"] < 1e-9
    assert result["holds"]


def test_titans_memory_residual_defaults_to_plain_mlp():
    """Existing specs keep their meaning: the runtime's NeuralMemory defaults to residual=False."""
    import inspect

    from nlc_runtime.memories.titans import NeuralMemory

    assert TitansMemory.model_validate({"name": "m", "kind": "titans_memory"}).residual is False
    assert inspect.signature(NeuralMemory).parameters["residual"].default is False


LR0_FROZEN = [
    "layers.memory.update.optimizer.lr=0",
    "layers.memory.update.optimizer.retention=null",
]


def _frozen_target(form: str) -> list[str]:
    inputs = ", inputs: [norm1]" if form == "mag" else ""
    return [f"layers.memory={{name: memory, kind: frozen_memory{inputs}}}"]


def test_titans_lr0_is_the_layout_with_a_frozen_memory_map():
    for form in ("mac", "mag", "mal"):
        result = run_verify(str(SPECS / f"titans-{form}.yaml"), f"titans-{form}", LR0_FROZEN,
                            _frozen_target(form), tokens=20)  # fmt: skip
        periods = result["structural"]["periods"]
        assert periods["source"] == periods["target"] == [1, "outer"], form
        num = result["numerical"]
        assert result["holds"] and num["holds"], (form, num)
        assert num["max_output_diff"] < 1e-9 and num["max_grad_diff"] < 1e-9


def test_titans_lr0_is_not_a_plain_mlp():
    """The read path (q projection, conv, l2-norm, per-head M_0, output gate) is not an MLP."""
    result = run_verify(str(SPECS / "titans-mag.yaml"), "titans-mag", LR0_FROZEN,
                        ["layers.memory={name: memory, kind: mlp, hidden: 64, inputs: [norm1]}"],
                        numerical=False)  # fmt: skip
    assert not result["holds"]
    assert any(
        line.startswith("frozen_memory: 2 in") for line in result["structural"]["differences"]
    )


def test_titans_lr0_with_forgetting_still_learns_in_context():
    """lr 0 alone: retention decays the memory, M_t = (1 - alpha_t) M_{t-1}; no collapse."""
    result = run_verify(str(SPECS / "titans-mag.yaml"), "titans-mag", LR0_FROZEN[:1],
                        _frozen_target("mag"), numerical=False)  # fmt: skip
    assert not result["holds"]
    first = result["structural"]["differences"][0]
    assert "layers.0.memory.M: does not collapse" in first and "retention decays it" in first


def test_wrong_rows_of_the_frozen_mapping_are_caught():
    """Mapping the memory's key rows (instead of its query rows) onto the frozen map's W_q."""

    def key_rows(pairs):
        out = []
        for s, sv, t, tv in pairs:
            if t.endswith("memory.to_q.weight"):
                a, b = sv
                sv = (b, 2 * b - a)
            out.append((s, sv, t, tv))
        return out

    result = run_verify(str(SPECS / "titans-mal.yaml"), "titans-mal", LR0_FROZEN,
                        _frozen_target("mal"), tamper=key_rows, tokens=12)  # fmt: skip
    assert result["structural"]["holds"] and not result["holds"]
    num = result["numerical"]
    assert num["max_output_diff"] > 1e-6
    assert any("to_qkv.weight has unmapped entries" in p for p in num["problems"])
