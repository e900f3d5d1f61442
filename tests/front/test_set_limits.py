"""`--set` values go through the spec file's reader (its limits, its one-line messages, the
argument named as the file); `nlc check` refuses the numbers training cannot hold (check ==
train); long component names compile into code that runs."""

from __future__ import annotations

import pytest

from nlc.cli import main
from tests.train.helpers import TINY_PERSIST, TINY_TRANSFORMER, write_spec


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "setting, words",
    [
        ("model=" + "[" * 5000, "nested deeper than 64"),
        ("model.vocab_size=" + "{a: " * 3000, "nested deeper than 64"),
        ("model.vocab_size=" + "9" * 5000, "a number of 5,000 characters"),
        ("model.vocab_size=-" + "9" * 400, "a number of 401 characters"),
        ("model.vocab_size={a: [b", "YAML syntax error"),
        ("model.vocab_size=[1, 2", "YAML syntax error"),
        ("name=2020-13-45", "month must be in 1..12"),
        ("model=!!python/object/apply:os.system ['true']", "unsupported YAML tag"),
        ("model.vocab_size=x\ny: [", ":2: YAML syntax error"),
    ],
    ids=[
        "deep-list",
        "deep-mapping",
        "long-number",
        "long-negative",
        "not-yaml",
        "unterminated",
        "bad-date",
        "python-tag",
        "second-line",
    ],
)
def test_set_values_are_read_like_a_spec_file(tmp_path, capsys, setting, words):
    """Each crashed (RecursionError, ValueError: exit 3), printed PyYAML's 7-line dump or was
    silently taken (a python tag): now one line naming the --set argument, exit 2."""
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    assert main(["check", str(spec), "--set", setting]) == 2
    line = _one_line(capsys)
    shown = setting[:20].replace("\n", "\\n")  # the argument, on one line
    assert line.startswith("--set " + shown) and words in line, line
    assert len(line) < 400, line


@pytest.mark.parametrize("setting", ["a\nb=1", "novalue\nx"])
def test_line_breaks_in_a_set_argument_stay_on_one_line(tmp_path, capsys, setting):
    """Diagnostics quote the user's text (a key, a kind, the argument): a line break in it
    made two lines."""
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    assert main(["check", str(spec), "--set", setting]) == 2
    _one_line(capsys)


def test_a_path_through_a_value_an_earlier_set_replaced_is_one_line(tmp_path, capsys):
    """`--set components=1_000 --set layers.attn.name=x` looked for `layers` among the
    entries of an int (TypeError: exit 3)."""
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    argv = ["check", str(spec), "--set", "components=1_000", "--set", "layers.attn.name=x"]
    assert main(argv) == 2
    assert "no field 'layers' here" in _one_line(capsys)


def test_a_long_number_in_a_spec_file_is_one_line(tmp_path, capsys):
    text = TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: " + "9" * 5000)
    assert main(["check", str(write_spec(tmp_path, text))]) == 2
    line = _one_line(capsys)
    assert "tiny.yaml:3: model.vocab_size: a number of 5,000 characters" in line, line


@pytest.mark.parametrize(
    "spec, setting",
    [
        ("transformer", "optimizer.lr=1e308"),
        ("transformer", "optimizer.lr=1e-320"),
        ("transformer", "optimizer={kind: sgd, weight_decay: 1e39}"),
        ("transformer", "optimizer={kind: m3, alpha: 1e39}"),
        ("transformer", "optimizer.betas=[0.9, 1e-50]"),
        ("transformer", "train.grad_clip=1e-45"),
        ("transformer", "train.batch_size=100000000000"),
        ("transformer", "train.accumulate=100000000000"),
        ("transformer", "train.seed=100000000000000000000000"),
        ("transformer", "train.seed=-1"),
        ("transformer", "train.warmup=100000000000000000000000"),
        ("persist", "layers.memory.update.optimizer.lr=1e308"),
        ("persist", "layers.memory.update.optimizer.momentum=-1e308"),
        ("persist", "layers.memory.update.optimizer.retention=1e39"),
        ("persist", "layers.memory.update.optimizer.clip=1e308"),
        ("persist", "layers.memory.update.optimizer.lr={data_dependent: true, init: 1e-320}"),
    ],
)
def test_check_refuses_the_numbers_training_cannot_hold(tmp_path, capsys, spec, setting):
    """Each was accepted by check and compile, then training exited 3 (torch cannot convert a
    number beyond float32 into a float32 tensor; a positive number below float32's smallest is
    zero there: an assertion), hung (a hundred billion micro-steps) or could not allocate."""
    text = TINY_TRANSFORMER if spec == "transformer" else TINY_PERSIST
    path = write_spec(tmp_path, text)
    assert main(["check", str(path), "--set", setting]) == 2
    field = setting.split("=")[0].split(".")[-1]
    line = _one_line(capsys)
    assert line.startswith(str(path)) and (field in line or "optimizer" in line), line


def test_long_component_names_compile_into_code_that_runs(tmp_path, capsys):
    """A name of 59+ characters on an attention or mlp: the residual `h_a + h_<name>` no longer
    fit a line and the line splitter, looking for a call's '(', crashed (exit 3)."""
    import importlib.util
    import sys

    import torch

    attn, mlp = "a" * 59, "m" * 300
    sets = [
        f"layers.attn.name={attn}",
        f"layers.res1.inputs=[in, {attn}]",
        f"layers.mlp.name={mlp}",
        f"layers.res2.inputs=[res1, {mlp}]",
    ]
    argv = [x for s in sets for x in ("--set", s)]
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    assert main(["check", str(spec), *argv]) == 0
    assert main(["compile", str(spec), *argv, "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    path = tmp_path / "out" / "model.py"
    module_spec = importlib.util.spec_from_file_location("long_names_model", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["long_names_model"] = module
    try:
        module_spec.loader.exec_module(module)
        model = module.Model(module.Config())
        logits, _ = model(torch.zeros(1, 32, dtype=torch.long))
        assert logits.shape == (1, 32, 256)
    finally:
        sys.modules.pop("long_names_model", None)
