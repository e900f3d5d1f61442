"""Preset names: `nlc levels hope` reads the shipped `specs/hope.yaml`."""

from __future__ import annotations

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"


def names() -> list[str]:
    """The shipped presets, by name."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def resolve(arg: str) -> str:
    """A spec argument as the commands read it: a file that exists, or a path (the loader
    reports a missing one), as given; a bare name (`hope`, `hope.yaml`) that is no file here
    names a shipped preset."""
    path = Path(arg)
    if path.exists() or path.parent != Path("."):
        return arg
    preset = SPECS_DIR / (arg if arg.endswith(".yaml") else f"{arg}.yaml")
    return str(preset) if preset.is_file() else arg
