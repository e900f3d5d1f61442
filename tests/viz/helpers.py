"""Helpers for the drawing tests: spec results, SVG text, PNG pixels."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from pathlib import Path

from nlc.pipeline import FrontResult, run_front

SPECS = Path(__file__).resolve().parents[2] / "specs"


@functools.cache
def front(name: str) -> FrontResult:
    return run_front(SPECS / f"{name}.yaml")


def svg_texts(svg: str | bytes) -> str:
    """All text of an SVG document (it must parse as XML), joined by newlines."""
    root = ET.fromstring(svg)
    return "\n".join(t for el in root.iter() for t in (el.text, el.tail) if t and t.strip())


def png_stats(path: Path) -> tuple[tuple[int, int], float, int]:
    """(size, fraction of pixels that are not near-white, number of distinct colours)."""
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("RGB")
    px = np.asarray(img).reshape(-1, 3)
    inked = float((px.min(axis=1) < 235).mean())
    return img.size, inked, len(np.unique(px, axis=0))
