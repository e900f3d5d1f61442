"""The command line: summaries, JSON Schema, determinism, and no torch in the front half."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest
import yaml

from nlc.cli import main
from tests.conftest import ROOT, SPECS


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "nlc", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_check_prints_a_one_screen_summary(capsys):
    assert main(["check", str(SPECS / "hope.yaml")]) == 0
    out = capsys.readouterr().out
    assert "spec hope" in out and "OK" in out
    assert "parameters:" in out and "levels (5, 1 = fastest)" in out
    assert "layers.{0..1}.memory.M_memory" in out
    assert "collapsed form (5 levels)" in out
    assert len(out.splitlines()) < 40


def test_check_warns_of_a_level_that_never_fires_inside_the_context(capsys):
    """HOPE's period-128 CMS level at a 128-token context updates after the window's last
    token: check says so, unless the spec trains on streams (the state carried on)."""
    hope = str(SPECS / "hope.yaml")
    assert main(["check", hope, "--set", "model.context=128"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "period 128" in warnings[0] and "--stream" in warnings[0]
    assert main(["check", hope, "--set", "model.context=128", "--set", "train.stream=true"]) == 0
    assert "warning" not in capsys.readouterr().out
    assert main(["check", hope]) == 0  # context 256: every period fires inside it
    assert "warning" not in capsys.readouterr().out


def test_levels_table(capsys):
    assert main(["levels", str(SPECS / "transformer.yaml")]) == 0
    out = capsys.readouterr().out
    assert "layers.{0..3}.attn.kv" in out and "outer" in out
    assert main(["levels", str(SPECS / "hope.yaml"), "--collapsed"]) == 0
    assert "collapsed levels" in capsys.readouterr().out


def test_schema_is_valid_and_accepts_every_shipped_spec(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(SPECS.glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path.name, errors[:1])
    bad = yaml.safe_load((SPECS / "hope.yaml").read_text())
    bad["model"]["typo"] = 1
    assert list(validator.iter_errors(bad))


def test_front_half_does_not_import_torch():
    code = (
        "import sys; from nlc.cli import main; "
        "rc = main(['check', 'specs/hope.yaml']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_python_m_nlc_help_and_console_script():
    proc = run("--help")
    assert proc.returncode == 0 and "check" in proc.stdout and "levels" in proc.stdout
    script = shutil.which("nlc", path=os.path.dirname(sys.executable))
    assert script is not None
    proc = subprocess.run(
        [script, "levels", "specs/titans-lmm.yaml", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["spec"] == "titans-lmm"


@pytest.mark.parametrize(
    "command", [["dump-ir", "specs/hope.yaml"], ["levels", "specs/hope.yaml", "--json"]]
)
def test_output_is_identical_across_hash_seeds(command):
    outs = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = run(*command, env=env)
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1


def test_presets_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    """`nlc levels hope` reads the shipped specs/hope.yaml wherever it runs; a name that is
    neither a file nor a preset is one line listing the presets."""
    from nlc.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["levels", "hope"]) == 0
    assert capsys.readouterr().out.startswith("hope: levels")
    assert main(["check", "titans-lmm.yaml"]) == 0
    capsys.readouterr()
    assert main(["check", "no-such-preset"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0] and "transformer" in err[0]


def test_set_overrides_reach_every_command(tmp_path, capsys):
    """`--set PATH=VALUE` (repeatable, the `--when` syntax) edits the spec before validation
    for check, levels, plan, compile (whose spec.yaml is the edited one) and graph."""
    import yaml

    from nlc.cli import main

    sets = ["--set", "model.d_model=64", "--set", "layers.memory.update.period=32"]
    assert main(["check", "titans-lmm", *sets]) == 0
    assert "width 64" in capsys.readouterr().out
    assert main(["levels", "titans-lmm", *sets]) == 0
    assert "\n1      32 " in capsys.readouterr().out
    assert main(["plan", "titans-lmm", *sets]) == 0
    assert "32 tokens" in capsys.readouterr().out
    assert main(["compile", "titans-lmm", *sets, "-o", str(tmp_path / "c")]) == 0
    spec = (tmp_path / "c" / "spec.yaml").read_text()
    assert spec.startswith("# titans-lmm.yaml --set model.d_model=64 --set ")
    assert yaml.safe_load(spec)["model"]["d_model"] == 64
    assert "d_model: int = 64" in (tmp_path / "c" / "model.py").read_text()
    assert main(["graph", "titans-lmm", *sets, "-o", str(tmp_path / "g.dot")]) == 0
    capsys.readouterr()
    assert main(["check", "titans-lmm", "--set", "model.d_model=abc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.d_model" in err[0]
