"""The emitted Config configures: every size in model.py comes from it. For every
shipped preset and for random specs, `Model(Config(d_model=2 * d, n_layers=n + 1))`, built on
the meta device, has exactly the parameters the front half counts for the spec with `--set
model.d_model=2d --set model.n_layers=n+1`; a small preset built wider and deeper from its
Config trains a step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from hypothesis import HealthCheck, given, settings

from nlc.codegen.emit import render
from nlc.ir.nodes import StateKind
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from tests.codegen.helpers import load_emitted
from tests.conftest import SPECS, property_examples
from tests.verify.test_reference import random_specs


def _ir_parameters(text: str, overrides: list[str]) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text)
        graph = run_front(path, overrides=overrides).full
    return sum(graph.param_count(s.name) for s in graph.states() if s.kind == StateKind.WEIGHT)


def _emitted(text: str, folder: Path):
    for file, content in render(run_front(load_spec_text(text, "spec.yaml")), "spec.yaml").items():
        (folder / file).write_text(content)
    return load_emitted(folder)


def _assert_config_scales(text: str, folder: Path) -> None:
    model_doc = yaml.safe_load(text)["model"]
    d, layers = 2 * model_doc["d_model"], model_doc.get("n_layers", 1) + 1
    module = _emitted(text, folder)
    with torch.device("meta"):
        model = module.Model(module.Config(d_model=d, n_layers=layers))
    count = sum(p.numel() for p in model.parameters())
    assert count == _ir_parameters(text, [f"model.d_model={d}", f"model.n_layers={layers}"])
    assert count != _ir_parameters(text, [])  # the settings did change the model


@pytest.mark.parametrize("spec", sorted(p.stem for p in SPECS.glob("*.yaml")))
def test_config_builds_the_spec_at_other_settings(spec, tmp_path):
    _assert_config_scales((SPECS / f"{spec}.yaml").read_text(), tmp_path)


@pytest.mark.parametrize("examples", property_examples(sample=10, full=50))
def test_config_builds_random_specs_at_other_settings(examples):
    import tempfile

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(random_specs())
    def check(text):
        with tempfile.TemporaryDirectory() as tmp:
            _assert_config_scales(text, Path(tmp))

    check()


def test_a_wider_deeper_config_trains(tmp_path):
    """hope at Config(d_model=256, n_layers=4) (the spec: 128, 2): forward and backward over
    a sequence crossing its memories' boundaries, finite loss and gradients."""
    module = _emitted((SPECS / "hope.yaml").read_text(), tmp_path)
    torch.manual_seed(0)
    model = module.Model(module.Config(d_model=256, n_layers=4))
    assert len(model.layers) == 4 and model.embed.weight.shape == (256, 256)
    idx = torch.randint(0, 256, (2, 40))
    logits, _ = model(idx)
    loss = F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, 1).flatten())
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
