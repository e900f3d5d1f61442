"""`nlc check` and `nlc compile` give the same verdict on the same spec: what the code generator
cannot emit, check refuses too, with the same `FILE:LINE: field: message` and exit 2, and
neither ever fails with an internal error (exit 3). Checked on every single-setting mutation of
the shipped specs, on those specs with each `inputs` list removed, and on random specs."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from nlc.cli import main
from tests.codegen.test_spec_fidelity import SHIPPED, SPECS, _set, mutations, places
from tests.verify.test_reference import random_specs


def _nlc(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


def _verdicts(text: str, folder: Path) -> tuple[tuple[int, str], tuple[int, str]]:
    spec = folder / "spec.yaml"
    spec.write_text(text)
    return _nlc("check", str(spec)), _nlc("compile", str(spec), "-o", str(folder / "out"))


def _assert_agree(text: str, folder: Path) -> None:
    (check, check_err), (comp, comp_err) = _verdicts(text, folder)
    assert check in (0, 2) and comp in (0, 2), (check_err, comp_err, text)
    assert check == comp, (check_err, comp_err, text)
    assert check_err == comp_err, text


def _without_inputs(doc: dict):
    """The spec with one `inputs` list removed, for each component that has one."""

    def walk(entries, at):
        for i, entry in enumerate(entries):
            if "components" in entry:
                yield from walk(entry["components"], at + (i, "components"))
            elif "inputs" in entry:
                yield at + (i,)

    for path in walk(doc["components"], ("components",)):
        changed = copy.deepcopy(doc)
        node = changed
        for key in path:
            node = node[key]
        del node["inputs"]
        yield changed


def _mutated_specs():
    for spec_file in SHIPPED:
        doc = yaml.safe_load((SPECS / spec_file).read_text())
        for where, cls, data, _ in list(places(copy.deepcopy(doc))):
            for field, value in mutations(cls, data):
                changed = copy.deepcopy(doc)
                _set(changed, where + field, value)
                yield yaml.safe_dump(changed, sort_keys=False)
        for changed in _without_inputs(doc):
            yield yaml.safe_dump(changed, sort_keys=False)


@pytest.mark.slow
def test_check_and_compile_agree_on_mutated_specs(tmp_path):
    texts = list(_mutated_specs())
    assert len(texts) >= 780
    refused = 0
    for i, text in enumerate(texts):
        folder = tmp_path / str(i)
        folder.mkdir()
        _assert_agree(text, folder)
        refused += _verdicts(text, folder)[0][0] == 2
    assert refused > 50  # the mutations do reach the refusals


@pytest.mark.slow
@settings(
    max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(random_specs())
def test_check_and_compile_agree_on_random_specs(text):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _assert_agree(text, Path(tmp))


def test_a_component_missing_an_input_is_refused_by_check(tmp_path):
    """titans-mac's attention without `inputs` (it reads the block input and the memory
    readout): check and compile both refuse it in one line naming the field."""
    doc = yaml.safe_load((SPECS / "titans-mac.yaml").read_text())
    changed = next(
        d
        for d in _without_inputs(doc)
        if any(
            c.get("name") == "attn" and "inputs" not in c for c in d["components"][1]["components"]
        )
    )
    (check, err), (comp, comp_err) = _verdicts(yaml.safe_dump(changed), tmp_path)
    assert check == comp == 2 and err == comp_err
    assert len(err.strip().splitlines()) == 1 and "inputs" in err and "segment" in err
