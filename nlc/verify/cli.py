"""Subcommands of `nlc` that check claims about models (`verify`, `run-reference`).

`add_commands(sub)` registers them on the main parser; torch is imported only inside the
command functions, so `nlc --help` and `nlc check` stay fast.
"""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register the verification subcommands on an argparse subparsers object."""
