"""Import the files of a compiled run (RUN/code/model.py, train.py) as Python modules.

Emitted train.py does `from model import ...`, so the code folder goes on sys.path for the
duration of the import, and any `model` module imported before (another run) is dropped.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path


def load_module(code: Path, name: str):
    """Import code/NAME.py under a fresh module name (several runs in one process)."""
    path = code / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(path)
    sys.path.insert(0, str(code))
    sys.modules.pop("model", None)
    try:
        unique = f"nlc_run_{name}_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(unique, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code))
    return module
