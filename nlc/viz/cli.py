"""Subcommands of `nlc` that draw pictures (graph, spectrum, timeline).

`add_commands(sub)` registers them on the main parser; heavy imports (matplotlib) happen
only inside the command functions, so `nlc --help` and `nlc check` stay fast.
"""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register the drawing subcommands on an argparse subparsers object."""
