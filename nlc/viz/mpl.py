"""Matplotlib set-up shared by the spectrum and the timeline: a headless backend, and saved
files that are byte-for-byte reproducible (no dates, fixed SVG ids)."""

from __future__ import annotations

from pathlib import Path

DPI = 100
PLOT_FORMATS = ("png", "svg")


def pyplot():
    """matplotlib.pyplot on the Agg backend, with deterministic SVG output."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "nlc"  # fixed ids instead of random ones
    matplotlib.rcParams["svg.fonttype"] = "none"  # real <text>: searchable, and smaller
    return plt


def save(fig, path: str | Path, fmt: str) -> Path:
    """Save at DPI without trimming, so the pixel size is figsize × DPI exactly."""
    plt = pyplot()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(path, format=fmt, dpi=DPI, metadata=metadata)
    plt.close(fig)
    return Path(path)
