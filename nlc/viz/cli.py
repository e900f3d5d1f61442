"""Subcommands of `nlc` that draw pictures (graph, spectrum, timeline).

`add_commands(sub)` registers them on the main parser; heavy imports (matplotlib) happen
only inside the command functions, so `nlc --help` and `nlc check` stay fast.
Bad requests (unknown output format, missing Graphviz for PNG, unwritable output) print one
line on stderr and return 2; bad specs raise SpecError, which nlc's main prints (also 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

GRAPH_EXTS = ".svg, .png, .pdf, .dot, .mmd (Mermaid) or .html"


def _fail(command: str, message: str) -> int:
    print(f"nlc {command}: {message}", file=sys.stderr)
    return 2


def _check_output(command: str, out: str, allowed: tuple[str, ...]) -> str | None:
    """The format named by OUT's extension, or None after printing why it is unusable."""
    from nlc.viz.render import RenderError, output_format

    try:
        fmt = output_format(out, allowed)
    except RenderError as err:
        _fail(command, str(err))
        return None
    if not Path(out).resolve().parent.is_dir():
        _fail(command, f"{out}: the folder {Path(out).parent} does not exist")
        return None
    return fmt


def _cmd_graph(args) -> int:
    from nlc.pipeline import run_front
    from nlc.viz.render import GRAPH_FORMATS, RenderError, graph_bytes

    fmt = _check_output("graph", args.output, GRAPH_FORMATS)
    if fmt is None:
        return 2
    specs = [args.spec] + ([args.compare] if args.compare else [])
    results = [run_front(s, overrides=args.set) for s in specs]
    graphs = [r.collapsed if args.collapsed else r.full for r in results]
    try:
        data = graph_bytes(graphs, fmt, fold=not args.unfold, all_edges=args.all_edges)
    except RenderError as err:
        return _fail("graph", str(err))
    Path(args.output).write_bytes(data)
    return 0


def _cmd_spectrum(args) -> int:
    from nlc.pipeline import run_front
    from nlc.viz.mpl import PLOT_FORMATS
    from nlc.viz.spectrum import draw_spectrum

    fmt = _check_output("spectrum", args.output, PLOT_FORMATS)
    if fmt is None:
        return 2
    result = run_front(args.spec, overrides=args.set)
    draw_spectrum(result.collapsed if args.collapsed else result.full, args.output, fmt)
    return 0


def _cmd_timeline(args) -> int:
    from nlc.pipeline import run_front
    from nlc.viz.mpl import PLOT_FORMATS
    from nlc.viz.timeline import draw_timeline

    fmt = _check_output("timeline", args.output, PLOT_FORMATS)
    if fmt is None:
        return 2
    if args.tokens is not None and args.tokens < 1:
        return _fail("timeline", f"--tokens must be at least 1, got {args.tokens}")
    result = run_front(args.spec, overrides=args.set)
    graph = result.collapsed if args.collapsed else result.full
    tokens = args.tokens if args.tokens is not None else graph.model.context
    draw_timeline(graph, args.output, fmt, tokens, fold=not args.unfold, flush=not args.drop)
    return 0


def add_commands(sub) -> None:
    """Register the drawing subcommands on an argparse subparsers object."""
    from nlc.presets import add_set_option

    p = sub.add_parser(
        "graph",
        help="draw the level graph",
        description=f"Draw the level graph of a spec; OUT's extension picks the format: "
        f"{GRAPH_EXTS}. Bands are levels (fastest on top); repeated layers are folded.",
    )
    p.add_argument("spec", help="the model spec (YAML)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help=f"file: {GRAPH_EXTS}")
    p.add_argument("--unfold", action="store_true", help="draw every layer, not one ×N node")
    p.add_argument("--collapsed", action="store_true", help="draw the graph after collapse")
    p.add_argument("--compare", metavar="OTHER", help="draw a second spec beside it, aligned")
    p.add_argument(
        "--all-edges",
        action="store_true",
        help="also draw computes reading outer weights and weights initializing memories",
    )
    add_set_option(p)
    p.set_defaults(fn=_cmd_graph)

    p = sub.add_parser(
        "spectrum",
        help="draw the states on a logarithmic frequency axis",
        description="Every state on a log frequency axis (updates per token), sized by the "
        "numbers it holds (optimizer moments are states, not parameters); outer sits at one "
        "update per optimizer step of batch × accumulate × context tokens.",
    )
    p.add_argument("spec")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help=".png or .svg")
    p.add_argument("--collapsed", action="store_true", help="after collapse")
    add_set_option(p)
    p.set_defaults(fn=_cmd_spectrum)

    p = sub.add_parser(
        "timeline",
        help="draw which states update at which token",
        description="One row per state; a tick after every token at which it updates.",
    )
    p.add_argument("spec")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help=".png or .svg")
    p.add_argument(
        "--tokens", type=int, default=None, help="sequence length (default: the model's context)"
    )
    p.add_argument("--unfold", action="store_true", help="one row per layer")
    p.add_argument("--drop", action="store_true", help="drop the last partial chunk (no flush)")
    p.add_argument("--collapsed", action="store_true", help="after collapse")
    add_set_option(p)
    p.set_defaults(fn=_cmd_timeline)
