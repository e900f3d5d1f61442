"""Fuzz: structural mutants of the shipped specs (`tests/front/mutants.py`) through `nlc check`
and `nlc compile`.

Every mutant ends in exit 0 or 2 -- never an internal error -- and a refusal is one line per problem,
each naming the file. An accepted mutant compiles (check == compile), compiles to the same bytes
twice, its emitted files parse, importing model.py prints nothing and writes nothing, and a
sample of them (the small ones) builds and runs a forward and backward with finite values at
initialisation. `make test` tries 500 mutants; `make fuzz` tries NLC_FUZZ_MUTANTS (10,000);
`make test-fast` (no slow tests) a sample of SAMPLE_MUTANTS.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings

from nlc.cli import main
from tests.codegen.helpers import load_emitted
from tests.front.mutants import mutants, spec_file

N_MUTANTS = int(os.environ.get("NLC_FUZZ_MUTANTS", "500"))
SAMPLE_MUTANTS = 25  # the unit-test run's share: about two seconds
RUN_EVERY = 4  # one accepted mutant in RUN_EVERY (by hash) also runs forward and backward
RUN_MAX_PARAMETERS = 3_000_000

# What the fuzz test saw, for the closing summary (`make fuzz` prints it).
SEEN = {"tried": 0, "refused": 0, "accepted": 0, "ran": 0}


def _nlc(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _runs_finite(folder: Path) -> None:
    """Build the emitted model at its Config and run a forward and backward: finite values."""
    mod = load_emitted(folder)
    torch.manual_seed(0)
    model = mod.Model(mod.Config())
    T = min(mod.Config().context, 40)
    idx = torch.randint(0, mod.Config().vocab_size, (2, T))
    lm = {"targets": idx.roll(-1, 1)} if model.uses_targets else {}
    logits, _ = model(idx, **lm)
    assert torch.isfinite(logits).all(), "non-finite logits at initialisation"
    F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, 1).flatten()).backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), f"non-finite gradient: {name}"


def check_mutant(base: str, text: str, folder: Path) -> str:
    """Run one mutant through check and compile; returns 'refused', 'accepted' or 'ran'."""
    spec = spec_file(folder, text)
    code, out, err = _nlc("check", str(spec), "--json")
    context = f"mutant of {base}:\n{text}"
    assert code in (0, 2), f"exit {code}: {err}\n{context}"
    if code == 2:
        # one line per diagnostic, each naming the file (several problems: several lines)
        lines = err.strip().splitlines()
        assert lines and all(line.startswith(f"{spec}:") for line in lines), f"{err!r}\n{context}"
        return "refused"
    parameters = json.loads(out)["parameters"]
    first, second = folder / "a", folder / "b"
    for target in (first, second):
        code, _, err = _nlc("compile", str(spec), "-o", str(target))
        assert code == 0, f"check accepted, compile exit {code}: {err}\n{context}"
    assert _files(first) == _files(second), f"two compiles differ\n{context}"
    for name, data in _files(first).items():
        if name.endswith(".py"):
            ast.parse(data, filename=name)
    before = sorted(os.listdir(folder))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        mod = load_emitted(first)
    assert printed.getvalue() == "" and sorted(os.listdir(folder)) == before, context
    assert hasattr(mod, "Model") and hasattr(mod, "Config")
    digest = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    if digest % RUN_EVERY or parameters > RUN_MAX_PARAMETERS:
        return "accepted"
    try:
        _runs_finite(first)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{context}") from None
    return "ran"


def _try_mutant(tmp_path_factory, mutant) -> None:
    base, text = mutant
    folder = tmp_path_factory.mktemp("mutant")
    outcome = check_mutant(base, text, folder)
    SEEN["tried"] += 1
    SEEN["refused" if outcome == "refused" else "accepted"] += 1
    SEEN["ran"] += outcome == "ran"


FUZZ = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.mark.slow
@settings(max_examples=N_MUTANTS, **FUZZ)
@given(mutants())
def test_mutants_are_refused_in_one_line_or_compile_and_run(tmp_path_factory, mutant):
    _try_mutant(tmp_path_factory, mutant)


@settings(max_examples=SAMPLE_MUTANTS, **FUZZ)
@given(mutants())
def test_sample_mutants_are_refused_in_one_line_or_compile_and_run(tmp_path_factory, mutant):
    _try_mutant(tmp_path_factory, mutant)


def test_the_mutants_reach_both_verdicts(tmp_path_factory):
    """The mutants tried above were not vacuous: some refused, some run (this test runs after
    them in file order; alone, or on another worker, it checks a fresh sample)."""
    if SEEN["tried"] == 0:
        test_sample_mutants_are_refused_in_one_line_or_compile_and_run(
            tmp_path_factory=tmp_path_factory
        )
    print(f"\nmutants: {SEEN}")
    assert SEEN["refused"] > 0.1 * SEEN["tried"], SEEN
    assert SEEN["ran"] > 0, SEEN
