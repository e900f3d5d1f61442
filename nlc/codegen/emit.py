"""Render the templates and write the compiled folder (`nlc compile SPEC -o DIR`)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import jinja2
import yaml

from nlc.codegen.context import build_context
from nlc.passes.plan_schedule import plan_schedule
from nlc.pipeline import FrontResult, run_front
from nlc.plan_text import render_plan
from nlc.spec.overrides import apply_overrides

TEMPLATES = ["model.py", "train.py", "sample.py"]
MODELINE = re.compile(r"\A# yaml-language-server:.*\n")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("nlc.codegen", "templates"),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # we emit Python, not HTML; values are repr()'d in codegen.kinds
)


def render(result: FrontResult, spec_file: str) -> dict[str, str]:
    """The emitted files, by name. Deterministic: same spec, same bytes."""
    plan = plan_schedule(result.collapsed)
    ctx = build_context(result.full, plan, render_plan(plan), spec_file)
    return {name: _ENV.get_template(f"{name}.jinja").render(**ctx) for name in TEMPLATES}


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def compile_spec(spec: str | Path, out: str | Path, overrides: Sequence[str] = ()) -> list[Path]:
    """Compile a spec into `out`: model.py, train.py, sample.py and spec.yaml (the spec
    compiled: with `overrides`, the edited document, its first line saying which)."""
    spec = Path(spec)
    result = run_front(spec, overrides=overrides)
    files = render(result, spec.name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        _write_atomic(out / name, text)
        written.append(out / name)
    # the presets' editor modeline names the schema by a path relative to specs/: it would
    # point nowhere from the compiled folder
    text = MODELINE.sub("", spec.read_text(encoding="utf-8"), count=1)
    if overrides:
        doc = apply_overrides(yaml.safe_load(text), list(overrides), "--set")
        sets = " ".join(f"--set {o}" for o in overrides)
        text = f"# {spec.name} {sets}\n" + yaml.safe_dump(doc, sort_keys=False)
    _write_atomic(out / "spec.yaml", text)
    written.append(out / "spec.yaml")
    return written
