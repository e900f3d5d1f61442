"""Editor support: the JSON Schema ships as `specs/nlc.schema.json` (package data), equal to
what `nlc schema` prints, and every shipped spec names it in a yaml-language-server modeline on
its first line, by a path that resolves to that file (in the checkout and, the same relative
layout, in an installed wheel). Claim files are not specs and carry none."""

from __future__ import annotations

import re

import pytest

from nlc.cli import main
from nlc.resources import presets_dir, schema_file
from nlc.spec.schema_file import schema_text
from tests.conftest import SPECS

MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")


def test_shipped_schema_is_the_generated_one(record_golden):
    if record_golden:
        (SPECS / "nlc.schema.json").write_text(schema_text())
    assert (SPECS / "nlc.schema.json").read_text() == schema_text(), (
        "specs/nlc.schema.json is stale: re-record with pytest --record-golden"
    )
    assert schema_file().read_text() == schema_text()  # the one the package resolves


def test_schema_command_prints_it_and_its_path(capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_text()
    assert main(["schema", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(schema_file())


def _specs():
    claims = {p for p in (SPECS / "claims").glob("*.yaml")}  # claim files, not specs
    return sorted(p for p in SPECS.rglob("*.yaml") if p not in claims)


@pytest.mark.parametrize("path", _specs(), ids=lambda p: str(p.relative_to(SPECS)))
def test_every_spec_names_the_schema_on_its_first_line(path):
    match = MODELINE.match(path.read_text())
    assert match, f"{path}: first line must be the yaml-language-server modeline"
    assert (path.parent / match.group(1)).resolve() == (SPECS / "nlc.schema.json").resolve()


def test_compiled_spec_drops_the_modeline(tmp_path):
    """Its relative path would point nowhere from the compiled folder."""
    assert main(["compile", "titans-lmm", "-o", str(tmp_path)]) == 0
    text = (tmp_path / "spec.yaml").read_text()
    assert "yaml-language-server" not in text
    assert text == (presets_dir() / "titans-lmm.yaml").read_text().split("\n", 1)[1]
