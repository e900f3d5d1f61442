"""The line budget of the tree (`make lint`): growth is a decision, not an accident.

Checks the README, every Python file of the compiler (`nlc/`) and of the runtime (`runtime/`),
and the files `nlc compile` emits for every shipped spec (`specs/*.yaml`) against the budgets
below, prints each file over its budget with its line count, and exits 1 if there is one
(2 where a spec does not compile). A budget is raised by editing this table, with a reason.

    python tools/line_budget.py [--root DIR] [--emitted DIR]

`--emitted DIR` reads already-emitted folders (DIR/<spec>/model.py ...) instead of compiling
the specs. Standard library only: it compiles through nlc in a subprocess.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Source files: (glob under the root, most lines). The largest today is
# nlc/codegen/context.py (~580 lines); a file that needs more is split first.
SOURCE_BUDGETS = (
    ("README.md", 260),  # a manual: measurements go to docs/performance.md
    ("nlc/**/*.py", 600),
    ("runtime/**/*.py", 600),
)

# Explicit exceptions to SOURCE_BUDGETS: path -> (most lines, why). None today.
EXCEPTIONS: dict[str, tuple[int, str]] = {}

# Files emitted for each shipped spec: (name, most lines).
EMITTED_BUDGETS = (
    ("train.py", 150),  # read top to bottom: constants, make_optimizer, one loop
    ("model.py", 300),  # the largest shipped model.py today is hope-lm's, ~270 lines
    ("sample.py", 100),
)


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def source_overruns(root: Path) -> list[tuple[str, int, int]]:
    """(path relative to root, lines, budget) of every source file over its budget."""
    over = []
    for pattern, budget in SOURCE_BUDGETS:
        for path in sorted(root.glob(pattern)):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root).as_posix()
            limit = EXCEPTIONS.get(rel, (budget, ""))[0]
            lines = count_lines(path)
            if lines > limit:
                over.append((rel, lines, limit))
    return over


def emitted_overruns(emitted: Path, label: str) -> list[tuple[str, int, int]]:
    """(label/<spec>/<file>, lines, budget) of every emitted file over its budget."""
    over = []
    for folder in sorted(p for p in emitted.iterdir() if p.is_dir()):
        for name, budget in EMITTED_BUDGETS:
            path = folder / name
            if path.is_file() and (lines := count_lines(path)) > budget:
                over.append((f"{label}/{folder.name}/{name}", lines, budget))
    return over


# Run in one subprocess (nlc imported once): compile each spec given as SPEC OUT pairs, and
# print the name of each that failed after its own error lines.
_COMPILE_ALL = """
import sys
from nlc.cli import main
failed = [s for s, o in zip(sys.argv[1::2], sys.argv[2::2]) if main(["compile", s, "-o", o])]
print(*("cannot compile " + s for s in failed), sep="\\n", file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def compile_specs(root: Path, out: Path) -> str | None:
    """Compile every shipped spec into out/<stem>/; None, or the errors if one failed."""
    pairs = [(str(spec), str(out / spec.stem)) for spec in sorted((root / "specs").glob("*.yaml"))]
    if not pairs:
        return None
    env = dict(os.environ)
    if (root / "nlc" / "__init__.py").is_file():  # a checkout compiles with its own nlc
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _COMPILE_ALL, *(x for pair in pairs for x in pair)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
    )
    return None if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--emitted", type=Path, help="folders already emitted, one per spec")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    over = source_overruns(root)
    if args.emitted is not None:
        over += emitted_overruns(args.emitted, "emitted")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            errors = compile_specs(root, Path(tmp))
            if errors:
                print(f"line budget: the shipped specs do not compile:\n{errors}", file=sys.stderr)
                return 2
            over += emitted_overruns(Path(tmp), "emitted")
    for rel, lines, budget in over:
        print(f"{rel}: {lines} lines (budget {budget})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
