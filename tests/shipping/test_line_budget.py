"""tools/line_budget.py (run by `make lint`) fails on a file over its budget and passes a tree
within budget: checked on a small temporary tree, not on the real one."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.conftest import ROOT

CHECKER = ROOT / "tools" / "line_budget.py"


def _tree(tmp_path, readme=10, source=10, train=10, model=10):
    """A repository-shaped tree with files of the given line counts, and one emitted folder."""
    files = {
        "README.md": readme,
        "nlc/codegen/context.py": source,
        "runtime/nlc_runtime/exec/clock.py": 5,
        "emitted/hope/train.py": train,
        "emitted/hope/model.py": model,
    }
    for rel, lines in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * lines)
    return tmp_path


def _check(root):
    return subprocess.run(
        [sys.executable, str(CHECKER), "--root", str(root), "--emitted", str(root / "emitted")],
        capture_output=True,
        text=True,
    )


def test_a_tree_within_budget_passes(tmp_path):
    done = _check(_tree(tmp_path, readme=260, source=600, train=150, model=300))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_each_file_over_budget_is_named_with_its_count(tmp_path):
    done = _check(_tree(tmp_path, readme=261, source=601, train=151))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "README.md: 261 lines (budget 260)",
        "nlc/codegen/context.py: 601 lines (budget 600)",
        "emitted/hope/train.py: 151 lines (budget 150)",
    ]


def test_without_emitted_folders_the_shipped_specs_are_compiled_and_counted(tmp_path, capsys):
    """Without --emitted the checker compiles every spec of ROOT/specs and counts what it
    emits: with budgets below the transformer preset's files, both are named."""
    tree = _tree(tmp_path)
    (tree / "specs").mkdir()
    (tree / "specs" / "transformer.yaml").write_bytes(
        (ROOT / "specs/transformer.yaml").read_bytes()
    )
    spec = importlib.util.spec_from_file_location("line_budget", CHECKER)
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    checker.EMITTED_BUDGETS = (("train.py", 10), ("model.py", 10))
    assert checker.main(["--root", str(tree)]) == 1
    named = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert named == ["emitted/transformer/train.py", "emitted/transformer/model.py"]


def test_a_spec_that_does_not_compile_is_an_error_not_a_pass(tmp_path):
    tree = _tree(tmp_path)
    (tree / "specs").mkdir()
    (tree / "specs" / "broken.yaml").write_text("nlc: 1\nname: broken\n")
    done = subprocess.run(
        [sys.executable, str(CHECKER), "--root", str(tree)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "cannot compile" in done.stderr and "broken.yaml" in done.stderr
