"""`nlc verify`: shipped claims, exit codes, --list, --json, numerical check and tampering."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from nlc.verify.claims import shipped_claims
from nlc.verify.cli import run_verify
from tests.conftest import SPECS

HOPE_ATTN = str(SPECS / "hope-attention.yaml")
OUTER_SILU = ["layers.cms.levels=outer", "layers.cms.activation=silu"]
MLP_SILU = ["layers.mlp.hidden=256", "layers.mlp.activation=silu"]


@pytest.mark.parametrize("claim", shipped_claims(), ids=lambda c: c.name)
def test_shipped_claim_behaves_as_expected(claim, capsys):
    rc = main(["verify", "--claim", claim.name, "--json", "--tokens", "12"])
    result = json.loads(capsys.readouterr().out)
    assert result["as_expected"], result
    assert rc == (0 if claim.expect == "holds" else 1)


def test_list_names_every_claim(capsys):
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    for claim in shipped_claims():
        assert claim.name in out


def test_shipped_must_fail_claim_exits_1_naming_the_level(capsys):
    assert main(["verify", "--claim", "hope-attention-short-cms-is-not-transformer"]) == 1
    out = capsys.readouterr().out
    assert "(CMS level 1 of layers.1.cms): does not collapse" in out
    assert "its period 128 is shorter than the context 256" in out


def test_must_fail_claim_names_the_level(capsys):
    rc = main(["verify", HOPE_ATTN, "--collapses-to", "transformer",
               "--target-when", "layers.mlp.hidden=256"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 1
    assert "layers.0.cms.mlp0 (CMS level 0 of layers.0.cms): does not collapse" in out
    assert "claim does not hold" in out


def test_bad_input_exits_2(capsys):
    assert main(["verify", HOPE_ATTN, "--collapses-to", "nonsense"]) == 2
    assert main(["verify", HOPE_ATTN, "--collapses-to", "transformer", "--when", "x.y=1"]) == 2
    assert main(["verify", "missing.yaml", "--collapses-to", "transformer"]) == 2
    assert main(["verify"]) == 2
    assert "neither a spec file nor a named form" in capsys.readouterr().err


def test_numerical_check_holds_with_tiny_differences():
    result = run_verify(HOPE_ATTN, "transformer", OUTER_SILU, MLP_SILU)
    num = result["numerical"]
    assert result["holds"] and num["holds"]
    assert num["max_output_diff"] < 1e-12 and num["max_grad_diff"] < 1e-10
    assert num["mapped_parameters"] == 14


def test_perturbed_weight_mapping_is_caught():
    def swap_layers(pairs):
        # give layer 0's MLP up-projection to layer 1 and vice versa
        i = next(k for k, p in enumerate(pairs) if p[2] == "layers.0.mlp.up.weight")
        j = next(k for k, p in enumerate(pairs) if p[2] == "layers.1.mlp.up.weight")
        pairs = list(pairs)
        pairs[i], pairs[j] = (pairs[j][0], *pairs[i][1:]), (pairs[i][0], *pairs[j][1:])
        return pairs

    result = run_verify(HOPE_ATTN, "transformer", OUTER_SILU, MLP_SILU, tamper=swap_layers)
    assert result["structural"]["holds"]
    assert not result["holds"]
    assert result["numerical"]["max_output_diff"] > 1e-6


def test_dropped_mapping_entry_is_reported():
    result = run_verify(HOPE_ATTN, "transformer", OUTER_SILU, MLP_SILU, tamper=lambda p: p[1:])
    assert not result["holds"]
    assert any("receives no source weight" in x for x in result["numerical"]["problems"])


def test_gelu_claim_holds_numerically():
    """This check once found the runtime CMS using tanh-approximated gelu against the
    Transformer MLP's exact gelu; both use exact gelu now, so the numbers agree."""
    result = run_verify(HOPE_ATTN, "transformer", ["layers.cms.levels=outer"],
                        ["layers.mlp.hidden=256"])  # fmt: skip
    assert result["structural"]["holds"]
    assert result["numerical"]["holds"]
    assert result["numerical"]["max_output_diff"] < 1e-9


def test_json_output_is_machine_readable(capsys):
    rc = main(["verify", HOPE_ATTN, "--collapses-to", "transformer", "--structural-only",
               "--json", *sum((["--when", w] for w in OUTER_SILU), []),
               *sum((["--target-when", w] for w in MLP_SILU), [])])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["holds"] and data["numerical"] is None
    assert data["structural"]["periods"] == {"source": [1, "outer"], "target": [1, "outer"]}


def test_run_reference_compare(tmp_path, capsys):
    from tests.codegen.helpers import tiny_spec

    path = tiny_spec(SPECS / "titans-lmm.yaml", tmp_path / "titans-lmm.yaml")
    rc = main(["run-reference", str(path), "--tokens", "20", "--compare", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["agrees"]
    assert 2.0 < data["loss"] < 10.0  # about ln(256) for an untrained model


LM_SIGNAL = """\
name: lm-signal
model: {vocab_size: 32, d_model: 16, n_heads: 2, context: 32, n_layers: 2}
components:
  - {name: embed, kind: embedding}
  - name: layers
    components:
      - {name: n1, kind: norm}
      - {name: mix, kind: attention, window: 5}
      - {name: r1, kind: add, inputs: [in, mix]}
      - name: cms
        kind: cms
        signal: lm
        levels:
          - {period: 4, hidden: 16, lr: 0.1, optimizer: momentum, momentum: 0.5}
          - {period: 6, hidden: 16, lr: 0.05}
          - {period: outer, hidden: 16}
  - {name: norm_f, kind: norm}
  - {name: head, kind: lm_head, tie: embed}
"""


def test_run_reference_compares_the_lm_signal(tmp_path, capsys):
    """The LM signal (pieces of gcd(4, 6) = 2 tokens) as the interpreter defines it, token by
    token, against the emitted loop nest: outputs and gradients agree over 19 tokens."""
    path = tmp_path / "lm-signal.yaml"
    path.write_text(LM_SIGNAL)
    rc = main(["run-reference", str(path), "--tokens", "19", "--compare", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["agrees"], data
    assert data["compare"]["max_output_diff"] < 1e-10


def test_all_claims_structural_only(capsys):
    assert main(["verify", "--all", "--structural-only"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "skip matrix-memory-delta-rule-is-deltanet: structure holds" in out


def test_unemittable_numerical_check_is_reported_not_crashed(capsys):
    # a valid rule the runtime cannot run yet (the LM-gradient objective), on both sides
    rule = "{period: 1, objective: lm, optimizer: {kind: gd, lr: 1.0}}"
    when = ["layers.memory.depth=1", "layers.memory.conv=null", f"layers.memory.update={rule}"]
    target = str(SPECS / "claims" / "targets" / "linear-attention.yaml")
    args = ["verify", str(SPECS / "titans-lmm.yaml"), "--collapses-to", target,
            "--target-when", f"layers.memory.update={rule}"]  # fmt: skip
    rc = main(args + sum((["--when", w] for w in when), []))
    out = capsys.readouterr().out
    assert rc == 1
    assert "structural: holds" in out
    assert "numerical: could not be run" in out and "objective 'lm' is not supported" in out
