"""The spectrum and the timeline: PNG size, ink, SVG text, determinism."""

from __future__ import annotations

import pytest

from nlc.viz.spectrum import SIZE, draw_spectrum
from nlc.viz.timeline import draw_timeline, figure_size, timeline_rows
from tests.viz.helpers import front, png_stats, svg_texts


def test_spectrum_png_size_and_ink(tmp_path):
    out = draw_spectrum(front("hope").full, tmp_path / "s.png", "png")
    (w, h), inked, colours = png_stats(out)
    assert (w, h) == (int(SIZE[0] * 100), int(SIZE[1] * 100))
    assert inked > 0.02 and colours > 50


def test_spectrum_svg_labels_levels_and_is_deterministic(tmp_path):
    graph = front("hope").full
    a = draw_spectrum(graph, tmp_path / "a.svg", "svg").read_bytes()
    b = draw_spectrum(graph, tmp_path / "b.svg", "svg").read_bytes()
    assert a == b
    text = svg_texts(a)
    for label in ("outer", "1/4", "1/16", "1/128", "L1", "L5", "layers.{0..1}.cms.mlp0 ×2"):
        assert label in text, label


@pytest.mark.parametrize("fold", [True, False])
def test_timeline_png_size_follows_rows(tmp_path, fold):
    graph = front("hope").full
    rows = timeline_rows(graph, fold)
    out = draw_timeline(graph, tmp_path / "t.png", "png", tokens=64, fold=fold)
    (w, h), inked, _ = png_stats(out)
    fw, fh = figure_size(len(rows))
    assert (w, h) == (round(fw * 100), round(fh * 100))
    assert inked > 0.02


def test_timeline_rows_fastest_first():
    rows = timeline_rows(front("hope").full)
    periods = [p for _, p, _ in rows]
    assert periods == sorted(periods, key=lambda p: p.sort_key())
    assert rows[0][1].tokens == 4 and periods[-1].is_outer


def test_timeline_svg_is_deterministic(tmp_path):
    graph = front("transformer").full
    a = draw_timeline(graph, tmp_path / "a.svg", "svg", tokens=32).read_bytes()
    b = draw_timeline(graph, tmp_path / "b.svg", "svg", tokens=32).read_bytes()
    assert a == b and b"Date" not in a
    text = svg_texts(a)
    assert "layers.{0..3}.attn.kv ×4  (1)" in text and "optimizer.m  (outer)" in text
