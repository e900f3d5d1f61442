"""The emitted loop nest: the state carries its own clock (a sequence fed in pieces gives the
logits and state of one call), the plain and fused schedules agree, generation through the
carried state equals a forward over the whole prefix, and the per-segment step compiles once.
Float64 on CPU, on every shipped spec (shrunk) and on the interpreter's random specs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nlc_runtime.testing import tensors_of

from nlc.passes.plan_schedule import wave_piece
from tests.codegen.conftest import CPU_SPECS, GPU_PRESETS
from tests.codegen.helpers import load_emitted, render_text
from tests.verify.test_reference import random_specs

TOL = 1e-10
T = 45  # crosses boundaries of every shrunk preset's fast periods and ends in a partial chunk
# (a, b): the first piece ends inside a chunk, on a boundary (4, 8, 16, 32: every fast period
# of the presets divides one of them), one token in, one token before the end
SPLITS = [(1, 2), (3, 4), (4, 8), (7, 16), (16, 33), (31, 44), (5, 32)]


def _model(module, schedule="fused", seed=0):
    torch.manual_seed(seed)
    return module.Model(module.Config(schedule=schedule)).double()


def _canonical(state):
    """A state with its LM piece in progress as one tensor per CMS (its segments, which depend
    on where the calls were cut, joined)."""
    if not isinstance(state, dict) or "lm" not in state:
        return state
    piece = state["lm"]
    joined = [
        [torch.cat([tap[i] for tap in taps], 1) for i in (0, 1)] for taps in piece["taps"] if taps
    ]
    return {**state, "lm": {"loss": piece["loss"], "taps": [j for j in joined if j]}}


def _max_diff(a, b) -> float:
    """Largest difference between two states (or outputs): same structure, every tensor."""
    ta, tb = tensors_of(_canonical(a)), tensors_of(_canonical(b))
    assert len(ta) == len(tb)
    assert all(x.shape == y.shape for x, y in zip(ta, tb, strict=True))
    pairs = [(x, y) for x, y in zip(ta, tb, strict=True) if x.numel()]
    return max([0.0] + [(x - y).abs().max().item() for x, y in pairs])


def _in_pieces(model, idx, cuts, targets=None):
    """Feed idx in the pieces cut at `cuts`, the state carried; logits and final state."""
    state, ys = None, []
    bounds = [0, *cuts, idx.shape[1]]
    for s, e in zip(bounds, bounds[1:], strict=False):
        kw = {"targets": targets[:, s:e]} if targets is not None else {}
        y, state = model(idx[:, s:e], state, **kw)
        ys.append(y)
    return torch.cat(ys, 1), state


def _assert_pieces_equal_whole(model, idx, splits, targets=None):
    kw = {"targets": targets} if targets is not None else {}
    whole, state = model(idx, **kw)
    finished = model.finish(state)
    worst = 0.0
    for cuts in splits:
        y, st = _in_pieces(model, idx, cuts, targets)
        worst = max(worst, (y - whole).abs().max().item(), _max_diff(st, state))
        worst = max(worst, _max_diff(model.finish(st), finished))
    assert worst < TOL, worst
    return worst


# the default schedule in the unit run; plain and wavefront (which agree with it on one call:
# test_plain_fused_and_wavefront_schedules_agree) in `make test`
@pytest.mark.parametrize(
    "schedule",
    ["fused", *(pytest.param(s, marks=pytest.mark.slow) for s in ("plain", "wavefront"))],
)
@pytest.mark.parametrize("name", CPU_SPECS)
def test_pieces_equal_one_call(emitted, name, schedule):
    """logits, state = model(idx[:, :a]); ... with the returned state: the same logits and
    final state (before and after `finish`) as one call on idx, for splits inside chunks and on
    boundaries; the LM-signal spec gets its targets cut the same way."""
    model = _model(emitted[name], schedule)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 256, (2, T), generator=gen)
    targets = torch.randint(0, 256, (2, T), generator=gen) if model.uses_targets else None
    _assert_pieces_equal_whole(model, idx, SPLITS, targets)


@pytest.mark.parametrize("name", GPU_PRESETS)
def test_pieces_equal_one_call_gpu_presets(emitted, name):
    model = _model(emitted[name])
    idx = torch.randint(0, 256, (1, T), generator=torch.Generator().manual_seed(2))
    _assert_pieces_equal_whole(model, idx, [(7, 30)])


def _emit(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in render_text(text, "random.yaml").items():
            (Path(tmp) / name).write_text(content)
        return load_emitted(Path(tmp))


@settings(
    max_examples=14, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(random_specs(), st.integers(1, 12), st.integers(1, 12))
def test_random_specs_pieces_equal_one_call(text, a, length):
    """Random periods (1..12, not dividing the pieces), MAC segments, windows, drop/flush,
    both CMS signals: the same invariance, on 23 tokens cut at a and a + length."""
    module = _emit(text)
    model = _model(module)
    gen = torch.Generator().manual_seed(a)
    idx = torch.randint(0, 32, (2, 23), generator=gen)
    targets = torch.randint(0, 32, (2, 23), generator=gen) if model.uses_targets else None
    b = min(a + length, 22)
    _assert_pieces_equal_whole(model, idx, [(a, b), (a,)], targets)


def _run_schedules(module, idx, schedules, cfg=None):
    """Per schedule: logits, finished state and every parameter's gradient of one call."""
    results = []
    for schedule in schedules:
        torch.manual_seed(0)
        model = module.Model(module.Config(schedule=schedule, **(cfg or {}))).double()
        kw = {"targets": idx.roll(-1, 1)} if model.uses_targets else {}
        logits, state = model(idx, **kw)
        finished = model.finish(state)  # before backward: a last LM piece needs its graph
        F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, 1).flatten()).backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        results.append((logits, finished, grads))
    return results


def _assert_agree(results):
    (y1, s1, g1), *rest = results
    for y2, s2, g2 in rest:
        assert (y1 - y2).abs().max().item() < TOL
        assert _max_diff(s1, s2) < TOL
        assert g1.keys() == g2.keys() and g1
        assert max((g1[n] - g2[n]).abs().max().item() for n in g1) < 1e-9


@pytest.mark.parametrize("name", CPU_SPECS)
def test_plain_fused_and_wavefront_schedules_agree(emitted, name):
    """The fused schedule (each component through its own boundaries) and the wavefront (the
    repeated blocks overlapped, batched per wave) are reorderings of the plain nest: equal
    logits, states and gradients of every parameter."""
    idx = torch.randint(0, 256, (2, T), generator=torch.Generator().manual_seed(3))
    _assert_agree(_run_schedules(emitted[name], idx, ("plain", "fused", "wavefront")))


@pytest.mark.parametrize("name", ["hope", "titans-lmm", "titans-mac"])
def test_a_deep_wavefront_equals_the_plain_nest(emitted, name):
    """Five blocks over seven pieces (the first waves fill, the last drain, the middle ones
    batch five blocks) and a partial last piece: the plain nest's numbers."""
    module = emitted[name]
    assert "wavefront(" in Path(module.__file__).read_text()  # the schedule is emitted
    idx = torch.randint(0, 256, (2, 105), generator=torch.Generator().manual_seed(4))
    cfg = {"n_layers": 5}
    _assert_agree(_run_schedules(module, idx, ("plain", "wavefront"), cfg))


@settings(
    max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(random_specs())
def test_random_specs_wavefront_equals_the_plain_nest(text):
    """Random periods, MAC segments, windows, drop/flush, both CMS signals, in blocks of 3
    layers over 40 tokens: where the wavefront is emitted it gives the plain nest's logits,
    states and gradients (elsewhere the schedule is the fused one)."""
    text = text.replace("n_layers: 1", "n_layers: 3").replace("n_layers: 2", "n_layers: 3")
    module = _emit(text)
    idx = torch.randint(0, 32, (2, 40), generator=torch.Generator().manual_seed(5))
    _assert_agree(_run_schedules(module, idx, ("plain", "wavefront")))


def test_wave_piece():
    """The smallest multiple of every shaped period and of every period below it that divides
    every period above it."""
    assert wave_piece({4, 16, 32, 128}, {4, 16}) == 16  # HOPE: the CMS levels fire between
    assert wave_piece({16}, set()) == 16  # Titans LMM: a running copy has one shape
    assert wave_piece({3, 4}, {4}) == 12  # 3 < 4 must fire inside the wave too
    assert wave_piece({8, 12, 5}, {8}) == 120  # 5 below 8: 40; then 12 below 40
    assert wave_piece({6, 64}, {6}) == 192  # 64 is no multiple of 6: a boundary inside
    assert wave_piece({16, 24}, {16}) == 48
    assert wave_piece({4, 8, 64}, {4}) == 4


def test_the_wavefront_needs_clocked_state(emitted):
    """A block with a growing attention cache or an LM signal keeps the layer loop."""
    for name in ("transformer", "hope-attention", "hope-lm"):
        assert "wavefront(" not in Path(emitted[name].__file__).read_text()


@pytest.mark.parametrize("name", ["transformer", "hope", "titans-mac", "hope-lm"])
def test_generation_with_the_carried_state_equals_a_full_forward(emitted, name, monkeypatch):
    """`sampling.generate` feeds the prompt once, then one token at a time through the state;
    the logits each new token is drawn from equal those of a forward over the whole prefix
    (with its targets, for the LM signal), for prefixes up to the context (48)."""
    from nlc_runtime.exec import sampling

    model = _model(emitted[name])
    seen = []
    original = sampling.next_token
    monkeypatch.setattr(
        sampling, "next_token", lambda logits, *a: seen.append(logits) or original(logits, *a)
    )
    prompt = torch.randint(0, 256, (1, 5), generator=torch.Generator().manual_seed(4))
    ids, _ = sampling.generate(model, prompt, 40, temperature=0.0)
    assert ids.shape == (1, 45) and len(seen) == 40
    for i, logits in enumerate(seen):
        prefix = ids[:, : 5 + i]
        kw = {}
        if model.uses_targets:  # the next token of each but the last: its target is not drawn yet
            kw = {"targets": torch.cat([prefix[:, 1:], torch.full_like(prefix[:, :1], -1)], 1)}
        with torch.no_grad():
            full, _ = model(prefix, **kw)
        assert (full[:, -1] - logits).abs().max().item() < TOL, i


@pytest.mark.parametrize("name", ["hope", "hope-lm"])
def test_a_prompt_read_in_pieces_samples_what_one_call_samples(emitted, name):
    """`generate(..., piece=P)` reads a long prompt in pieces of P tokens, the state carried:
    the same tokens are drawn (greedy) as from the prompt fed in one call."""
    from nlc_runtime.exec import sampling

    model = _model(emitted[name])
    prompt = torch.randint(0, 256, (1, 70), generator=torch.Generator().manual_seed(7))
    whole, _ = sampling.generate(model, prompt, 12, temperature=0.0)
    pieces, _ = sampling.generate(model, prompt, 12, temperature=0.0, piece=16)
    assert torch.equal(whole, pieces) and pieces.shape == (1, 82)


def test_a_tiny_temperature_samples_the_most_likely_token():
    """Logits are shifted by their maximum before the temperature divides them: at 1e-45 the
    sample is the argmax (no inf - inf, no NaN)."""
    from nlc_runtime.exec.sampling import next_token

    logits = torch.tensor([[1.0, 3.0, 2.0, -5.0], [30.0, -1.0, 29.5, 0.0]])
    for top_k in (0, 2):
        assert next_token(logits, 1e-45, top_k).flatten().tolist() == [1, 0]


def test_generation_runs_past_the_context(emitted):
    """A memory model keeps generating past its context (48 here) from what it carries; the
    attention-only model slides its window (its cache keeps the last `context` tokens)."""
    from nlc_runtime.exec import sampling

    for name in ("hope", "transformer"):
        model = _model(emitted[name])
        prompt = torch.randint(0, 256, (1, 4), generator=torch.Generator().manual_seed(5))
        ids, state = sampling.generate(model, prompt, 60, temperature=1.0, top_k=0)
        assert ids.shape == (1, 64) and state["t"] == 63
        if name == "transformer":
            assert state["layers"][0]["attn"]["k"].shape[2] == 47  # the context less one


@pytest.mark.parametrize("name", CPU_SPECS)
def test_the_emitted_model_is_causal(emitted, name):
    """docs/design.md, also through in-context updates and the LM signal: perturbing token t
    leaves every output before t unchanged and changes the output at t."""
    model = _model(emitted[name])
    idx = torch.randint(0, 256, (1, T), generator=torch.Generator().manual_seed(6))
    for t in (3, 20, 40):
        other = idx.clone()
        other[0, t] = (idx[0, t] + 1) % 256
        outs = []
        for x in (idx, other):
            kw = {"targets": x.roll(-1, 1)} if model.uses_targets else {}
            with torch.no_grad():
                outs.append(model(x, **kw)[0])
        assert (outs[0][:, :t] - outs[1][:, :t]).abs().max().item() == 0.0
        assert (outs[0][:, t] - outs[1][:, t]).abs().max().item() > 0.0


def test_the_lm_signal_learns_from_the_targets(emitted):
    """hope-lm: without targets the CMS only reads; with them its fast level (period 32) has
    moved after the first LM piece, and only the tokens after it see the change."""
    model = _model(emitted["hope-lm"])
    idx = torch.randint(0, 256, (2, T), generator=torch.Generator().manual_seed(7))
    read, s0 = model(idx)
    learned, s1 = model(idx, targets=idx.roll(-1, 1))
    assert (read[:, :32] - learned[:, :32]).abs().max().item() == 0.0
    assert (read[:, 32:] - learned[:, 32:]).abs().max().item() > 1e-6
    w0, w1 = (s["layers"][0]["cms"]["L0"]["W0"] for s in (s0, s1))
    assert (w0 - w1).abs().max().item() > 0


def _graphs_per_length(module, schedule: str, compile_step) -> dict[int, int]:
    """Graphs torch.compile builds for sequences of 32 and 96 tokens, `compile_step(model,
    backend)` choosing what is compiled (and returning how to undo it); each compiled run
    must give the eager logits."""
    counts = {}
    for length in (32, 96):
        torch._dynamo.reset()
        graphs = []

        def backend(gm, example_inputs, graphs=graphs):
            graphs.append(gm)
            return gm.forward

        model = _model(module, schedule)
        idx = torch.arange(length).remainder(256)[None]
        eager, _ = model(idx)
        undo = compile_step(model, backend)
        try:
            compiled, _ = model(idx)
        finally:
            undo()
        assert (compiled - eager).abs().max().item() < 1e-12
        counts[length] = len(graphs)
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hope", "titans-mac", "transformer"])
def test_the_segment_step_compiles_once_per_shape(emitted, name):
    """torch.compile of the plain nest's per-segment step: the number of graphs it compiles
    does not grow with the number of segments (no recompile per segment, no unrolling of the
    sequence), and the compiled step gives the eager logits. (A chunk's pending tokens grow
    within it, so HOPE's step meets a few shapes: none, one segment's, any, none again after
    an update; a KV cache grows too.)"""

    def compile_step(model, backend):
        model.step = torch.compile(model.step, backend=backend)
        return lambda: None

    counts = _graphs_per_length(emitted[name], "plain", compile_step)
    assert counts[32] == counts[96] and 1 <= counts[96] <= 4, counts


@pytest.mark.parametrize("schedule", ["fused", "wavefront"])
def test_bf16_autocast_trains_hope_eagerly(emitted, schedule):
    """bf16 autocast (train.py on CUDA; CPU autocast casts the same matrix products): the
    eager pieces of a step (the written-out backward of the delta rule, the clip) take mixed
    dtypes and give a finite loss and finite gradients, to the parameters float32 reaches, near
    float32's."""
    module = emitted["hope"]
    idx = torch.randint(0, 256, (2, 49), generator=torch.Generator().manual_seed(3))

    def grads(autocast: bool):
        torch.manual_seed(0)
        model = module.Model(module.Config(schedule=schedule))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, _ = model(idx[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1).float(), idx[:, 1:].flatten())
        loss.backward()
        assert torch.isfinite(loss)
        return loss, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    loss32, ref = grads(False)
    loss16, got = grads(True)
    assert got.keys() == ref.keys() and len(got) > 10
    assert abs(loss16 - loss32).item() < 0.05
    for name, g in got.items():
        assert torch.isfinite(g).all(), name


@pytest.mark.slow  # compiles (torch.compile)
def test_evaluation_runs_the_eager_chunk_kernels(emitted):
    """With the chunk kernels compiled, a call without gradients (train.py's evaluation) runs
    the eager bodies and compiles nothing; the next training call compiles; both give the
    eager logits."""
    from nlc_runtime.exec.compile import compile_chunk_kernels, reset_chunk_kernels

    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    model = _model(emitted["hope"])
    idx = torch.arange(40).remainder(256)[None]
    eager, _ = model(idx)
    torch._dynamo.reset()
    compile_chunk_kernels(backend=backend, dynamic=False)
    try:
        with torch.no_grad():
            evaluated, _ = model(idx)
        assert graphs == []
        trained, _ = model(idx)
    finally:
        reset_chunk_kernels()
    assert graphs
    assert (evaluated - eager).abs().max().item() == 0.0
    assert (trained - eager).abs().max().item() < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hope", "titans-mac"])
def test_the_step_compiles_once_per_block_shape_at_any_depth(emitted, name):
    """`--compile-mode step` (`compile_step`): every repeat of a block replays the graphs of
    the first, so 4 layers compile the same graphs as 2 (as many, of as many nodes: what is
    traced and compiled does not grow with depth), and 96 tokens as 32; the compiled model
    gives the eager logits."""
    from nlc_runtime.exec.compile import compile_step

    module = emitted[name]
    counts = {}
    for layers, length in ((2, 32), (4, 32), (4, 96)):
        torch._dynamo.reset()
        graphs = []

        def backend(gm, example_inputs, graphs=graphs):
            graphs.append(gm)
            return gm.forward

        torch.manual_seed(0)
        model = module.Model(module.Config(n_layers=layers, schedule="plain")).double()
        idx = torch.arange(length).remainder(256)[None]
        eager, _ = model(idx)
        assert compile_step(model, backend=backend) == "step, per block of layers"
        compiled, _ = model(idx)
        assert (compiled - eager).abs().max().item() < 1e-12
        counts[layers, length] = len(graphs), sum(len(gm.graph.nodes) for gm in graphs)
    assert counts[2, 32] == counts[4, 32] == counts[4, 96], counts
    assert counts[2, 32][0] >= 1, counts


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,schedule", [("hope", "fused"), ("titans-lmm", "fused"), ("hope", "wavefront")]
)
def test_the_chunk_kernels_compile_once_per_shape(emitted, name, schedule):
    """`--compile-mode chunks`: the fused scan's per-chunk kernels (a whole chunk of the
    projection memories, of the main memory, of a Titans memory; a partial segment; a CMS
    span), and a wavefront's wave (all blocks every wave), compile a number of graphs that
    does not grow with the sequence, and give the eager logits."""
    from nlc_runtime.exec.compile import compile_chunk_kernels, reset_chunk_kernels

    def compile_step(model, backend):
        compile_chunk_kernels(backend=backend, dynamic=False)
        return reset_chunk_kernels

    counts = _graphs_per_length(emitted[name], schedule, compile_step)
    assert counts[32] == counts[96] and counts[96] >= 1, counts
