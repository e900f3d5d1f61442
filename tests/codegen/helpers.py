"""Compile specs into importable modules for tests."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import yaml

from nlc.codegen.emit import compile_spec, render
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text


def load_emitted(folder: Path):
    """Import an emitted model.py under a unique module name (several specs per process)."""
    name = f"emitted_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compile_to(spec_path: Path, out: Path):
    compile_spec(spec_path, out)
    return load_emitted(out)


def shrink_doc(doc: dict) -> dict:
    """A parsed spec shrunk in place for fast tests: width 32, 2 heads, 2 layers, small MLPs,
    same components, periods and rules (returned for chaining)."""
    doc["model"].update(d_model=32, n_heads=2, n_layers=2, context=48)

    def shrink(entries):
        for e in entries:
            if "components" in e:
                shrink(e["components"])
            if "hidden" in e:
                e["hidden"] = 64
            for level in e.get("levels", []):
                if "expansion" not in level:  # a multiple shrinks with d_model
                    level["hidden"] = 64
            if e.get("kind") == "attention" and "window" in e:
                e["window"] = 8
            if e.get("kind") == "attention" and "segment" in e:
                e["segment"] = 8
            if e.get("kind") == "titans_memory" and e.get("update", {}).get("period") == 32:
                e["update"]["period"] = 8  # MAC: the memory chunk follows the segment

    shrink(doc["components"])
    return doc


def tiny_spec(spec_path: Path, out: Path) -> Path:
    """A copy of a shipped spec shrunk for fast tests (`shrink_doc`)."""
    doc = shrink_doc(yaml.safe_load(spec_path.read_text()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def render_text(text: str, name: str = "test.yaml") -> dict[str, str]:
    return render(run_front(load_spec_text(text, name)), name)
