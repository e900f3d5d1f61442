"""Build an emitted model from a front-half result: render model.py, import it, instantiate.

Used by the numerical check and the differential tests. Importing the rendered module imports
torch, so only command functions (never `nlc.verify.cli` at import time) call this.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import uuid
from pathlib import Path

from nlc.codegen.emit import render
from nlc.pipeline import FrontResult


def emitted_module(front: FrontResult, label: str = "spec.yaml"):
    """The emitted model.py of `front`, imported under a unique module name."""
    text = render(front, label)["model.py"]
    folder = Path(tempfile.mkdtemp(prefix="nlc-verify-"))
    path = folder / "model.py"
    path.write_text(text)
    name = f"nlc_verify_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def build_model(front: FrontResult, impl: str = "chunked", seed: int = 0, label: str = "spec.yaml"):
    """A float64 instance of the emitted model with deterministic initial weights."""
    import torch

    module = emitted_module(front, label)
    torch.manual_seed(seed)
    model = module.Model(module.Config(impl=impl)).double()
    return model
