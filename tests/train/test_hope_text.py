"""Regression: the shipped memory presets stay finite on natural text.

The self-modifying memories' delta-rule (DGD) step W <- W (I - eta h h^T) - ... is taken with
unnormalised layer inputs h (||h||^2 ~ head width after RMS norm), so along a repeated input the
factor 1 - eta ||h||^2 must stay above -1: with eta up to lr_max = 0.5 it did not, the memory
grew geometrically and the emitted HOPE produced NaN on any text. specs/hope.yaml therefore caps
the inner learning rate (`lr: {data_dependent: true, max: 0.02}`); a normalised DGD step in
the runtime would lift that constraint.
"""

from __future__ import annotations

import pytest
import torch
from nlc_runtime.training.data import load_tokens

from nlc.codegen.emit import compile_spec
from nlc.train.emitted import load_module
from tests.conftest import SPECS


@pytest.mark.parametrize(
    "spec", ["hope", "hope-attention", "titans-lmm", "hope-lm", "hope-large-chunk"]
)
def test_emitted_preset_is_finite_on_the_bundled_corpus(tmp_path, spec):
    compile_spec(SPECS / f"{spec}.yaml", tmp_path)
    module = load_module(tmp_path, "model")
    torch.manual_seed(1337)
    model = module.Model(module.Config())
    tokens = load_tokens(None)
    x = torch.stack([tokens[i : i + 129] for i in range(0, 400_000, 50_000)]).long()
    with torch.no_grad():  # hope-lm learns from its targets (its CMS steps every 32 tokens)
        targets = {"targets": x[:, 1:]} if model.uses_targets else {}
        logits, _ = model(x[:, :-1], **targets)
    assert torch.isfinite(logits).all()


@pytest.mark.slow
def test_hope_preset_trains_without_diverging_at_its_full_context(tmp_path):
    """The CMS levels' in-context step sums `period` gradients; with lr 1e-3 (lr * period *
    hidden = 33 for the 128-token level) the outer training of specs/hope.yaml went to NaN at
    step 7 of 12 at context 256 (seen first on a GPU in bf16, then on CPU in float32). The
    preset's lrs keep that product below 1."""
    from nlc.cli import main

    argv = ["train", str(SPECS / "hope.yaml"), "--out", str(tmp_path / "run"), "--steps", "12"]
    argv += ["--batch-size", "4", "--context", "256", "--lr", "3e-3", "--warmup", "2"]
    argv += ["--eval-every", "12", "--eval-iters", "1", "--device", "cpu", "--no-compile"]
    assert main(argv) == 0
