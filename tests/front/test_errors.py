"""Bad input gives `FILE:LINE: field.path: message` on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from nlc.cli import main

GOOD = """\
name: t
model: {vocab_size: 64, d_model: 32, n_heads: 4, context: 64, n_layers: 2}
components:
  - {name: embed, kind: embedding}
  - name: layers
    components:
      - {name: norm1, kind: norm}
      - {name: attn, kind: attention}
      - {name: res, kind: add, inputs: [in, attn]}
  - {name: head, kind: lm_head, tie: embed}
"""


def run_check(tmp_path, capsys, text: str) -> tuple[int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    return code, err.replace(str(path), "spec.yaml")


def test_good_spec_passes(tmp_path, capsys):
    code, err = run_check(tmp_path, capsys, GOOD)
    assert code == 0, err


CASES = {
    "yaml_syntax": (
        GOOD.replace("{name: norm1, kind: norm}", "{name: norm1, kind: norm"),
        "spec.yaml:8: YAML syntax error",
    ),
    "unknown_kind": (
        GOOD.replace("kind: attention", "kind: atention"),
        "spec.yaml:8: components[1].components[1]: unknown kind 'atention' (did you mean 'attention'?)",
    ),
    "unknown_key": (
        GOOD.replace("kind: attention}", "kind: attention, windw: 8}"),
        "spec.yaml:8: components[1].components[1].windw: unknown key 'windw' (did you mean 'window'?)",
    ),
    "wrong_type": (
        GOOD.replace("d_model: 32", "d_model: wide"),
        "spec.yaml:2: model.d_model: expected a valid integer; got 'wide'",
    ),
    "unknown_input": (
        GOOD.replace("inputs: [in, attn]", "inputs: [in, atn]"),
        "spec.yaml:9: components[1].components[2].inputs[1]: unknown input 'atn' (did you mean 'attn'?)",
    ),
    "duplicate_name": (
        GOOD.replace("{name: attn, kind: attention}", "{name: norm1, kind: attention}"),
        "spec.yaml:8: components[1].components[1].name: duplicate name 'norm1' (first used on line 7)",
    ),
    "duplicate_yaml_key": (
        GOOD.replace("n_layers: 2}", "n_layers: 2, context: 8}"),
        "spec.yaml:2: model.context: duplicate key 'context'",
    ),
    "non_positive_period": (
        GOOD.replace(
            "{name: attn, kind: attention}",
            "{name: attn, kind: titans_memory, update: {period: 0}}",
        ),
        "spec.yaml:8: components[1].components[1].update.period: period must be a positive number",
    ),
    "heads_do_not_divide": (
        GOOD.replace("kind: attention}", "kind: attention, heads: 5}"),
        "spec.yaml:8: components[1].components[1].heads: width 32 is not divisible by 5 heads",
    ),
    "inconsistent_widths": (
        GOOD.replace("{name: attn, kind: attention}", "{name: attn, kind: linear, out: 16}"),
        "spec.yaml:9: components[1].components[2].inputs: inputs have different widths [32, 16]",
    ),
    "dependency_cycle": (
        GOOD.replace("{name: norm1, kind: norm}", "{name: norm1, kind: norm, inputs: [res]}"),
        "dependency cycle between components: layers.0.",
    ),
    "in_at_top_level": (
        GOOD.replace(
            "{name: head, kind: lm_head, tie: embed}",
            "{name: head, kind: lm_head, tie: embed, inputs: [in]}",
        ),
        "spec.yaml:10: components[2].inputs[0]: 'in' names a block's input",
    ),
    "missing_field": (
        GOOD.replace("context: 64, ", ""),
        "spec.yaml:2: model.context: missing required field 'context'",
    ),
    "no_lm_head": (
        GOOD.replace("  - {name: head, kind: lm_head, tie: embed}\n", ""),
        "must produce logits of width vocab_size=64, got width 32",
    ),
    "bad_tie": (
        GOOD.replace("tie: embed", "tie: norm1"),
        "spec.yaml:10: components[2].tie: 'norm1' is not an earlier embedding",
    ),
    "memory_with_outer_period": (
        GOOD.replace(
            "{name: attn, kind: attention}",
            "{name: attn, kind: titans_memory, update: {period: outer}}",
        ),
        "update.period of a memory must be a number of tokens",
    ),
    "window_and_segment": (
        GOOD.replace("kind: attention}", "kind: attention, window: 8, segment: 8}"),
        "spec.yaml:8: components[1].components[1]: set either 'window' (sliding-window attention) "
        "or 'segment' (MAC segment attention), not both",
    ),
    "cms_momentum_without_its_optimizer": (
        GOOD.replace(
            "{name: attn, kind: attention}",
            "{name: attn, kind: cms, levels: [{period: 4, momentum: 0.5}]}",
        ),
        "'momentum' is only used with optimizer: momentum (this level: gd)",
    ),
    "not_a_mapping": ("- 1\n- 2\n", "spec.yaml:1: a spec must be a YAML mapping"),
    "empty": ("", "the file is empty"),
    "unused_component": (
        GOOD.replace(
            "{name: res, kind: add, inputs: [in, attn]}",
            "{name: res, kind: add, inputs: [in, norm1]}",
        ),
        "spec.yaml:8: components[1].components[1].name: the output of 'layers.0.attn' is never used",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_spec_names_file_line_and_field(tmp_path, capsys, case):
    text, expected = CASES[case]
    code, err = run_check(tmp_path, capsys, text)
    assert code == 2
    assert expected in err, err
    assert "Traceback" not in err


def test_missing_file(capsys):
    assert main(["check", "/nonexistent/spec.yaml"]) == 2
    assert "/nonexistent/spec.yaml: no such file" in capsys.readouterr().err


def test_non_utf8_file(tmp_path, capsys):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    assert main(["check", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_bad_flag_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nlc", "levels", "--no-such-flag", "specs/hope.yaml"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unrecognized arguments" in proc.stderr


def test_error_from_subprocess_has_no_traceback(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(GOOD.replace("kind: attention", "kind: nope"))
    proc = subprocess.run(
        [sys.executable, "-m", "nlc", "check", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{path}:8: components[1].components[1]: unknown kind 'nope'")
    assert "Traceback" not in proc.stderr


def _hostile(tmp_path, kind: str) -> str:
    path = tmp_path / f"{kind}.yaml"
    if kind == "deep":
        path.write_text("nlc: 1\nname: x\nmodel: " + "[" * 1000 + "]" * 1000 + "\n")
    elif kind == "nul":
        path.write_bytes(b"nlc: 1\nname: x\x00\n")
    elif kind == "alias-bomb":
        lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
        for i in range(9):
            prev, name = chr(97 + i), chr(98 + i)
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        path.write_text("\n".join(lines) + "\n")
    elif kind == "big":
        path.write_text("# " + "x" * (2 << 20) + "\n")
    elif kind == "fifo":
        import os

        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif kind == "device":
        return "/dev/zero"
    return str(path)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("deep", "nested deeper"),
        ("nul", "unacceptable character"),
        ("alias-bomb", "expands to over"),
        ("big", "at most 1 MiB"),
        ("fifo", "not a regular file"),
        ("device", "not a regular file"),
    ],
)
def test_hostile_files_are_one_line_and_exit_2(tmp_path, capsys, kind, words):
    """Nesting 1,000 deep, a NUL byte, an alias bomb, 2 MiB, a FIFO and /dev/zero: each is
    refused quickly (nothing blocks or grows) in one line, exit 2."""
    assert main(["check", _hostile(tmp_path, kind)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("out", ["file", "file/x", ""])
def test_compile_refuses_an_output_that_is_no_folder(tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    assert main(["compile", "transformer", "-o", out]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "-o" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


@pytest.mark.parametrize(
    "setting, limit",
    [
        ("model.context=100000000", "1048576"),
        ("model.n_layers=1000000", "1024"),
        ("model.d_model=10000000", "65536"),
        ("layers.repeat=5000", "1024"),
    ],
)
def test_sizes_beyond_the_limits_are_refused_at_once(capsys, setting, limit):
    """A context of 1e8 tokens or a million layers ran for minutes (the plan walked every
    token, the IR every layer): the limits are schema bounds, named in one line."""
    assert main(["check", "transformer", "--set", setting]) == 2
    err = capsys.readouterr().err
    field = setting.split("=")[0].split(".")[-1]
    assert field in err and limit in err and len(err.strip().splitlines()) == 1, err
