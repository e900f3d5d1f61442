"""The plan is the program: `plan_nest` decides the emitted loop nest (clocks, firing order, LM
piece, wavefront pieces) and code generation renders it, reading one table of periods."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nlc.cli import main
from nlc.codegen.context import program_plan
from nlc.codegen.emit import render
from nlc.passes.plan_schedule import plan_schedule
from tests.conftest import SPECS
from tests.front.helpers import front, make_spec

MOMENTUM = {"kind": "momentum", "lr": 0.1, "momentum": 0.9}


def model_text(spec: str) -> str:
    return render(front((SPECS / f"{spec}.yaml").read_text()), f"{spec}.yaml")["model.py"]


def nest_of(doc):
    result = front(doc)
    return program_plan(result.full, plan_schedule(result.collapsed)).nest


def memory(name, period, **extra):
    return {
        "name": name,
        "kind": "titans_memory",
        **extra,
        "update": {"period": period, "optimizer": MOMENTUM},
    }


def test_hope_nest_names_its_clocks_fires_faster_first_and_plans_the_wavefront():
    nest = nest_of((SPECS / "hope.yaml").read_text())
    assert [(c.name, c.period) for c in nest.clocks] == [
        ("LEVEL_1", 4),
        ("LEVEL_2", 16),
        ("LEVEL_3", 32),
        ("LEVEL_4", 128),
    ]
    fired = [(f.where.shown, f.group.name, f.level) for f in nest.fires]
    assert fired == [
        ("layers.{0..1}.memory", "projections", 1),
        ("layers.{0..1}.memory", "memory", 2),
        ("layers.{0..1}.cms", "L0", 3),
        ("layers.{0..1}.cms", "L1", 4),
    ]
    assert nest.lm_piece is None  # the shipped HOPE's CMS learns a local objective
    assert nest.wave_pieces == (("layers", 16),)  # the self-modifying groups' lcm
    lm = (SPECS / "hope.yaml").read_text().replace("signal: local", "signal: lm")
    assert nest_of(lm).lm_piece == 32  # the gcd of the LM-signal CMS periods


def test_equal_periods_fire_in_precedence_order_and_a_cache_reset_after_the_chunks():
    text = (SPECS / "titans-mac.yaml").read_text()
    nest = nest_of(text)
    assert [(c.name, c.period) for c in nest.clocks] == [("LEVEL_2", 32)]  # 1: the KV cache
    assert [(f.where.key, f.group.name, f.group.chunk) for f in nest.fires] == [
        ("memory", "memory", True),  # a chunk rule first
        ("attn", "segment", False),  # then the segment's cache starts afresh
    ]
    # `b` reads `a`: at their shared boundary a's states become visible first (a ≻ b)
    layer = [
        memory("b", 4, inputs=["a"]),
        memory("a", 4, inputs=["in"]),
        memory("f", 2, inputs=["b"]),
    ]
    nest = nest_of(make_spec(layer, context=16, n_layers=1))
    assert [f.where.key for f in nest.fires] == ["f", "a", "b"]


def test_a_period_that_collapse_folds_away_still_fires_in_the_nest():
    """A level slower than the context changes nothing within a sequence (collapse folds it),
    but a stream that runs past the context reaches its boundary."""
    result = front(make_spec([memory("m", 128)], context=64, n_layers=1))
    plan = program_plan(result.full, plan_schedule(result.collapsed))
    assert not plan.scans
    assert [c.period for c in plan.nest.clocks] == [128]


def test_the_emitted_model_reads_one_table_of_periods():
    """Every in-context period is written once, in the clock table; cuts and boundary tests
    name it (no `t % 16` literal), and the wavefront's piece is the plan's."""
    text = model_text("hope")
    assert not re.search(r"t % \d", text)
    table = re.findall(r"^(LEVEL_\d) = (\d+)", text, re.M)
    assert table == [("LEVEL_1", "4"), ("LEVEL_2", "16"), ("LEVEL_3", "32"), ("LEVEL_4", "128")]
    for name, _ in table:
        assert f"if is_due(t, {name}):" in text and f"if not is_due(t, {name}):" in text
    assert "cuts = ALL_PERIODS if plain else ()" in text
    assert "LAYERS_WAVE_PIECE = 16" in text and ", t, LAYERS_WAVE_PIECE," in text
    lm = model_text("hope-lm")
    assert "cuts = (*ALL_PERIODS, LM_PIECE) if plain else (LM_PIECE,)" in lm
    assert "if is_due(t, LM_PIECE):" in lm


def test_codegen_renders_the_nest_without_deciding_it():
    """The nest module walks no graph and computes no gcd nor ranking: the plan did."""
    source = (Path(__file__).parents[2] / "nlc" / "codegen" / "nest.py").read_text()
    for decision in ("Graph", "import math", "gcd(", ".levels", "sorted(", "order.index"):
        assert decision not in source, decision


def test_nlc_plan_json_shows_the_emitted_nest(capsys):
    assert main(["plan", str(SPECS / "hope.yaml"), "--json"]) == 0
    nest = json.loads(capsys.readouterr().out)["nest"]
    assert nest["periods"] == {"LEVEL_1": 4, "LEVEL_2": 16, "LEVEL_3": 32, "LEVEL_4": 128}
    assert [(f["group"], f["end_of_sequence"]) for f in nest["fires"]] == [
        ("projections", "flush"),
        ("memory", "flush"),
        ("L0", "flush"),
        ("L1", "flush"),
    ]
    assert nest["wave_pieces"] == {"layers": 16}
