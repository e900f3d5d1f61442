"""The HTML page (self-contained, screenshot in headless Chromium) and the CLI commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from nlc.cli import main
from nlc.viz.render import graph_bytes
from tests.viz.helpers import SPECS, front, png_stats

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_is_self_contained_and_carries_node_details():
    page = graph_bytes([front("hope").full], "html").decode()
    # No network: nothing is loaded from elsewhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert page.count("<svg") == 2  # folded and unfolded drawings
    for detail in ("layers.{0..1}.memory.M_k", "projection_period", "W1[4, 64, 32]", "32768"):
        assert detail in page, detail


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: chromium)")
def test_html_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "g.html"
    page.write_bytes(graph_bytes([front("transformer").full, front("hope").full], "html"))
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,800",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    assert shot.exists(), "Chromium wrote no screenshot"
    (w, h), inked, colours = png_stats(shot)
    assert (w, h) == (1200, 800)
    assert inked > 0.03 and colours > 30


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("ext", ["svg", "dot", "mmd", "html"])
def test_graph_command_writes_each_text_format(tmp_path, capsys, ext):
    out = tmp_path / f"g.{ext}"
    code, _, err = run_cli(capsys, "graph", str(SPECS / "hope.yaml"), "-o", str(out))
    assert code == 0, err
    assert "layers.{0..1}.cms.mlp0" in out.read_text()


def test_graph_command_options(tmp_path, capsys):
    out = tmp_path / "g.mmd"
    spec = str(SPECS / "transformer.yaml")
    assert run_cli(capsys, "graph", spec, "--unfold", "-o", str(out))[0] == 0
    assert "layers.3.attn.kv" in out.read_text()
    assert run_cli(capsys, "graph", spec, "--collapsed", "--all-edges", "-o", str(out))[0] == 0
    other = str(SPECS / "hope.yaml")
    assert run_cli(capsys, "graph", spec, "--compare", other, "-o", str(out))[0] == 0
    text = out.read_text()
    assert "A_s_optimizer_m" in text and "B_s_optimizer_m" in text


def test_spectrum_and_timeline_commands(tmp_path, capsys):
    spec = str(SPECS / "titans-lmm.yaml")
    assert run_cli(capsys, "spectrum", spec, "-o", str(tmp_path / "s.png"))[0] == 0
    assert (
        run_cli(capsys, "timeline", spec, "--tokens", "40", "-o", str(tmp_path / "t.svg"))[0] == 0
    )
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "t.svg").read_bytes()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["graph", "{spec}", "-o", "{tmp}/g.jpg"], "unsupported output format '.jpg'"),
        (["spectrum", "{spec}", "-o", "{tmp}/s.pdf"], "unsupported output format '.pdf'"),
        (["timeline", "{spec}", "-o", "{tmp}/t.html"], "unsupported output format '.html'"),
        (["graph", "{tmp}/missing.yaml", "-o", "{tmp}/g.svg"], "missing.yaml: no such file"),
        (["graph", "{bad}", "-o", "{tmp}/g.svg"], "bad.yaml:1: bogus: unknown key 'bogus'"),
        (["timeline", "{spec}", "--tokens", "0", "-o", "{tmp}/t.png"], "--tokens"),
        (["spectrum", "{spec}", "-o", "{tmp}/nowhere/s.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bogus: 1\n" + (SPECS / "transformer.yaml").read_text())
    args = [a.format(spec=SPECS / "hope.yaml", tmp=tmp_path, bad=bad) for a in argv]
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and out == ""
    assert err.strip() and len(err.strip().splitlines()) == 1


def test_help_does_not_import_matplotlib():
    code = (
        "import sys\n"
        "from nlc.cli import build_parser\n"
        "build_parser()\n"
        "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
