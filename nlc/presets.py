"""Spec arguments of the commands: preset names (`nlc levels hope` reads the shipped
`specs/hope.yaml`) and `--set PATH=VALUE` overrides (`add_set_option`)."""

from __future__ import annotations

from pathlib import Path

from nlc.resources import presets_dir


def add_set_option(parser) -> None:
    """`--set PATH=VALUE`, repeatable: edits of the spec before validation, in the `--when`
    syntax of nlc verify (`--set model.d_model=256 --set layers.memory.update.period=32`)."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a setting of the spec (dotted path, YAML value; repeatable)",
    )


def names() -> list[str]:
    """The shipped presets, by name."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def resolve(arg: str) -> str:
    """A spec argument as the commands read it: a file that exists, or a path (the loader
    reports a missing one), as given; a bare name (`hope`, `hope.yaml`) that is no file here
    names a shipped preset."""
    path = Path(arg)
    if path.is_file() or path.parent != Path("."):
        return arg
    preset = presets_dir() / (arg if arg.endswith(".yaml") else f"{arg}.yaml")
    return str(preset) if preset.is_file() else arg
