"""pyproject.toml lists the packages of the wheel by name (specs/ and data/ are mapped into
them): a folder of Python code added under nlc/ or runtime/ must be listed too, or the wheel
would leave it out while the editable checkout still works."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_every_code_folder_is_a_listed_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config["package-dir"]
    found = set()
    for top, folder in (("nlc", ROOT / "nlc"), ("nlc_runtime", ROOT / "runtime" / "nlc_runtime")):
        for py in folder.rglob("*.py"):
            parts = py.parent.relative_to(folder).parts
            if "__pycache__" not in parts:
                found.add(".".join((top, *parts)))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert dirs["nlc.presets_data"] == "specs" and dirs["nlc_runtime.corpus"] == "data"


def test_presets_and_corpus_resolve_through_the_packages():
    from nlc_runtime.training.data import bundled_corpus

    from nlc.resources import presets_dir, schema_file

    assert (presets_dir() / "hope.yaml").is_file()
    assert schema_file().is_file()
    assert bundled_corpus().is_file() and bundled_corpus().name == "shakespeare.txt.gz"
