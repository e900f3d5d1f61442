"""Time drawing the ~760M HOPE preset: front half, then each picture (not a timed test).

    .venv/bin/python bench/bench_viz.py [SPEC]

Prints seconds per step; the issue's target is under 5 s for the level graph.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlc.pipeline import run_front  # noqa: E402
from nlc.viz.render import graph_bytes, use_dot  # noqa: E402
from nlc.viz.spectrum import draw_spectrum  # noqa: E402
from nlc.viz.timeline import draw_timeline  # noqa: E402


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<40} {time.perf_counter() - t0:7.3f} s", flush=True)
    return out


def main() -> None:
    spec = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "specs" / "hope-760m.yaml"
    print(f"{spec.name}; Graphviz dot: {'yes' if use_dot() else 'no (pure-Python SVG)'}")
    result = timed("front half (run_front)", lambda: run_front(spec))
    g = result.full
    for fmt in ("svg", "png", "mmd", "html") if use_dot() else ("svg", "mmd", "html"):
        timed(f"graph .{fmt} (folded)", lambda fmt=fmt: graph_bytes([g], fmt))
    timed("graph .svg --unfold", lambda: graph_bytes([g], "svg", fold=False))
    timed("graph .svg --collapsed", lambda: graph_bytes([result.collapsed], "svg"))
    with tempfile.TemporaryDirectory() as tmp:
        timed("spectrum .png", lambda: draw_spectrum(g, Path(tmp) / "s.png", "png"))
        timed(
            "timeline .png (context tokens)",
            lambda: draw_timeline(g, Path(tmp) / "t.png", "png", g.model.context),
        )
    print("total wall time for `nlc graph` = front half + one format; target < 5 s")


if __name__ == "__main__":
    main()
