"""A stack of repeated blocks as a diagonal wavefront over pieces of the sequence.

Block l on a piece of tokens needs block l - 1's output on the same piece and its own state
after the previous piece, nothing else. So with the span cut into pieces p_0 .. p_{m-1}, wave w
runs block l on piece w - l for every l at once: the sequential depth drops from L * m block
calls to L + m - 1 waves, and within a wave the blocks' weights and states are stacked on a
leading layer dimension (`torch.func.vmap` over the block), so each op runs once for all of
them. The numbers are those of the layer-by-layer loop (tests: wavefront == plain nest).

A piece is `piece` tokens on the sequence's clock, a multiple of every in-context period of
the block (the emitted model passes their least common multiple). Whole pieces then start
with every block at the same phase of every period: the same boundaries inside, the same
state shapes (pending chunks empty, caches of one length), so the blocks of a wave batch. A
partial piece (where a stream is cut mid-piece) runs alone. The boundary at a piece's end is
fired here unless it is the span's end, which stays the loop nest's (as in `stream.span`).
The emitted code uses this only for blocks whose state is all clocked (no growing attention
cache) and that take no LM signal.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn as nn
from torch.func import functional_call, vmap

from nlc_runtime.exec.clock import Updating, fire_due, segments
from nlc_runtime.exec.kernels import chunk_kernels
from nlc_runtime.exec.recompute import call_block


class _Piece(nn.Module):
    """One block on one whole piece: the unit a wave batches, an `nn.Module` so that
    `functional_call` swaps the stacked weights in for all of it. Returns the output, the
    state before the piece's boundary, and after the updates of the periods up to `piece`
    (every whole piece ends on their boundaries; the block whose piece ends the span keeps
    the state before, as the boundary at the span's end is the loop nest's). A whole piece
    starts on a boundary of every period it holds, so the block only needs its phase: the
    clock is the constant `piece` (a compiled wave is not specialised on where it runs)."""

    def __init__(self, block: nn.Module, piece: int):
        super().__init__()
        self.block, self.piece = block, piece

    def forward(self, x, state: dict):
        y, state = self.block(x, state, self.piece)
        after = fire_updates(self.block, state, 2 * self.piece, lambda p: p <= self.piece)
        return y, state, after


_UNITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unit(block: nn.Module, piece: int) -> _Piece:
    """The wave unit of a stack (one per first block, kept: a compiled wave guards on it)."""
    unit = _UNITS.get(block)
    if unit is None or unit.piece != piece:
        unit = _UNITS[block] = _Piece(block, piece)
    return unit


def wave(unit: _Piece, params: dict, xs: torch.Tensor, states: dict):
    """One wave's whole pieces, batched over the blocks (leading dim of params, xs, states):
    (outputs, states before, states after the piece's boundary)."""
    return vmap(lambda p, x, s: functional_call(unit, p, (x, s)))(params, xs, states)


# The wave's body; `compile.compile_chunk_kernels` swaps in a compiled version (one graph, and
# one more that makes the number of blocks dynamic).
KERNELS = chunk_kernels(__name__, {"wave": wave})


def _streaming_children(block: nn.Module):
    """(state key, module) of a block's components with update groups."""
    for name, child in block.named_children():
        if isinstance(child, Updating) and child.periods:
            yield name, child


def fire_updates(block: nn.Module, state: dict, t: int, which=None) -> dict:
    """The updates of a block's components due after token t (`clock.fire_due`), for the
    periods `which` accepts (each component's groups faster first; components own disjoint
    states, so their order is free)."""
    state = dict(state)
    for name, child in _streaming_children(block):
        if name in state:
            state[name] = fire_due(child, state[name], t, which)
    return state


def _check_piece(block: nn.Module, piece: int) -> None:
    """Every period divides the piece or is a multiple of it: the periods up to the piece fire
    inside a wave, uniformly and before the slower ones (faster first), and no boundary falls
    inside a whole piece, whose block then needs no clock but its phase."""
    for _, child in _streaming_children(block):
        for period in child.periods.values():
            assert (piece % period if period <= piece else period % piece) == 0, (
                f"period {period} vs piece {piece}"
            )


def _stack(trees: list):
    """Per-layer nested states -> one nested state with a leading layer dim."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: _stack([tr[k] for tr in trees]) for k in first}
    if isinstance(first, list):
        return [_stack([tr[i] for tr in trees]) for i in range(len(first))]
    return torch.stack(trees)


def _grad_leaves(tree):
    """Floating leaves that do not require grad made to, as a fresh state's do (`state.zeros`):
    a state zeroed inside vmap cannot tell, and a compiled wave would compile again for it."""
    if isinstance(tree, dict):
        return {k: _grad_leaves(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_grad_leaves(v) for v in tree]
    fresh = tree.is_leaf and not tree.requires_grad and tree.is_floating_point()
    return tree.detach().requires_grad_() if fresh and torch.is_grad_enabled() else tree


def _unstack(tree, n: int) -> list:
    """`_stack` undone: one nested state per layer."""
    if isinstance(tree, dict):
        parts = {k: _unstack(v, n) for k, v in tree.items()}
        return [{k: parts[k][i] for k in tree} for i in range(n)]
    if isinstance(tree, list):
        parts = [_unstack(v, n) for v in tree]
        return [[p[i] for p in parts] for i in range(n)]
    return list(tree.unbind(0))


def wavefront(
    blocks: nn.ModuleList, x: torch.Tensor, states: list, t: int, piece: int, recompute: bool
):
    """The blocks one after another over a span x (B, n, C) that starts after token t, run as
    a wavefront over pieces of `piece` tokens. Returns (output of the last block, states).

    `piece` is a multiple of every period of a group whose state's shape changes inside its
    chunk (pending tokens, a segment's cache) and of every period below it: then whole pieces
    batch (same shapes, the same updates up to `piece` at their ends, fired inside the
    batch); the slower updates fire per block, between waves."""
    L, n = len(blocks), x.shape[1]
    recompute = recompute and blocks[0].training
    cuts = segments(t, n, [piece])
    m = len(cuts)
    states = list(states)
    if L == 1 or m == 1:  # nothing overlaps: the plain loop
        for i, block in enumerate(blocks):
            x, states[i] = call_block(block, x, states[i], recompute, t)
        return x, states
    _check_piece(blocks[0], piece)
    inputs = [list(torch.split(x, [e - s for s, e in cuts], 1))] + [[None] * m for _ in range(L)]
    stacked = None  # every block's weights on a leading layer dim, built at the first batch
    for w in range(L + m - 1):
        active = [layer for layer in range(L) if 0 <= w - layer < m]
        whole = [layer for layer in active if _length(cuts[w - layer]) == piece]
        for layer in active:  # a partial piece (a stream cut mid-piece) runs alone
            if layer in whole and len(whole) > 1:
                continue
            s, e = cuts[w - layer]
            y, st = call_block(
                blocks[layer], inputs[layer][w - layer], states[layer], recompute, t + s
            )
            states[layer] = fire_updates(blocks[layer], st, t + e) if e < n else st
            inputs[layer + 1][w - layer] = y
        if len(whole) < 2:
            continue
        if stacked is None:
            stacked = _stacked_params(blocks)
        # compiled: every wave runs all blocks (one shape, one graph; vmap cannot take a
        # dynamic batch), the idle ones on a copy of a working block's piece, their results
        # dropped; eager: the working blocks only
        padded = KERNELS["wave"] is not wave
        lo, hi = (0, L) if padded else (whole[0], whole[-1] + 1)  # whole: consecutive blocks
        params = stacked if (lo, hi) == (0, L) else {k: v[lo:hi] for k, v in stacked.items()}
        rows = [layer if layer in whole else whole[0] for layer in range(lo, hi)]
        xs = torch.stack([inputs[r][w - r] for r in rows])
        st = _stack([states[r] for r in rows])
        if padded:
            st = _grad_leaves(st)
        call = KERNELS["wave"]
        ys, before, after = _call(call, recompute, _unit(blocks[0], piece), params, xs, st)
        ys = ys.unbind(0)
        befores, afters = _unstack(before, hi - lo), _unstack(after, hi - lo)
        for layer in whole:
            i = layer - lo
            inputs[layer + 1][w - layer] = ys[i]
            e = cuts[w - layer][1]
            if e < n:  # the slower updates due here, block by block
                states[layer] = fire_updates(blocks[layer], afters[i], t + e, lambda p: p > piece)
            else:
                states[layer] = befores[i]
    out = inputs[L]
    return torch.cat(out, 1), states


def _length(cut: tuple[int, int]) -> int:
    return cut[1] - cut[0]


def _stacked_params(blocks: nn.ModuleList) -> dict[str, torch.Tensor]:
    """{"block.<name>": (L, ...)}: the blocks' parameters stacked (differentiable: the
    gradients reach every block's own parameters)."""
    per_block = [dict(b.named_parameters()) for b in blocks]
    return {f"block.{k}": torch.stack([p[k] for p in per_block]) for k in per_block[0]}


def _call(fn, recompute: bool, *args):
    """fn(*args), its activations recomputed in backward when `recompute` is on and training."""
    if recompute and torch.is_grad_enabled():
        return torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)
