"""Streaming modules in the loop nest: a component's span, state structures, a one-module driver.

Emitted `Model.forward` owns the loop nest of `nlc plan` (docs/design.md). It cuts the tokens
of a call at every boundary of every in-context period, counted on the absolute clock
`state["t"]` (tokens of the sequence seen before this call), runs the model on each segment
with every state as it was at the segment's start, then fires the updates due after the
segment's last token, faster levels first. So a sequence fed in pieces gives the logits and
state of one call: the clock, the running copies of unfinished chunks and the caches all
travel in the state.

A runtime module with in-context state (a *streaming module*) offers `clock.StreamingModule`
(periods, flush, init_state, forward; `Updating` adds update, `Dropping` drop); when updates
are due, and in which order, is `clock`'s to say.

States are plain nested dicts (and lists, one entry per repeated block) of batch-leading
tensors, so torch.compile traces them and checkpoints store them (`state.flatten_state`).
"""

from __future__ import annotations

import torch

from nlc_runtime.exec.clock import (
    Prepared,
    Scanning,
    Updating,
    all_periods,
    finish_due,
    fire_due,
    segments,
)


def copy_state(state):
    """Fresh dicts and lists over the same tensors: the caller's state stays as it was."""
    if isinstance(state, dict):
        return {k: copy_state(v) for k, v in state.items()}
    if isinstance(state, list):
        return [copy_state(v) for v in state]
    return state


def merge_state(initial, given):
    """`initial` with every entry that `given` holds replaced by it (a persisted state carries
    some components, or some levels of a CMS; the rest starts afresh)."""
    if isinstance(initial, dict) and isinstance(given, dict):
        return {k: merge_state(v, given[k]) if k in given else v for k, v in initial.items()}
    if isinstance(initial, list) and isinstance(given, list):
        return [merge_state(a, b) for a, b in zip(initial, given, strict=True)]
    return given


def resume(state: dict | None, start) -> dict:
    """The state a call starts from: `start()` for a new sequence (None); a copy of a state
    that continues one (it has the clock "t"); a persisted state (no clock: a new sequence
    that carries some memories) merged into `start()`."""
    if state is None:
        return start()
    if "t" in state:
        return copy_state(state)
    return merge_state(start(), state)


def carried(module: torch.nn.Module, state: dict) -> dict:
    """The part of a finished sequence's state that the spec carries to the next sequence
    (`persist`): emitted modules list their persisted components in `persist` and their
    repeated blocks in `state_blocks`; a component may carry only part of its state
    (`carried_state`, e.g. some CMS levels). The clock is not carried: a new sequence."""
    out: dict = {}
    for key, value in state.items():
        if key in module.persist:
            part = getattr(getattr(module, key), "carried_state", None)
            out[key] = value if part is None else part(value)
        elif key in module.state_blocks:
            blocks = getattr(module, module.state_blocks[key])
            out[key] = [carried(b, s) for b, s in zip(blocks, value, strict=True)]
    return out


def _batch_dims(one, two):
    """The batch dimension of every tensor of a state, found by comparing the states of
    batches of 1 and 2 (a memory may stack its matrices before the batch: (M, B, ...)); None
    where a tensor has none (the KV cache's position)."""
    if isinstance(one, dict):
        return {k: _batch_dims(v, two[k]) for k, v in one.items()}
    if isinstance(one, list):
        return [_batch_dims(a, b) for a, b in zip(one, two, strict=True)]
    if isinstance(one, torch.Tensor):
        diff = [d for d, (a, b) in enumerate(zip(one.shape, two.shape, strict=True)) if a != b]
        return diff[0] if diff else None
    return None


def _where(fresh: torch.Tensor, state, new, dims):
    if isinstance(state, dict):
        return {k: _where(fresh, v, new[k], dims[k]) for k, v in state.items()}
    if isinstance(state, list):
        return [_where(fresh, a, b, d) for a, b, d in zip(state, new, dims, strict=True)]
    if not isinstance(state, torch.Tensor) or dims is None or state.shape != new.shape:
        # no batch dimension, or a cache whose length differs from a new sequence's (a KV
        # cache): kept, and the module hides the restarted rows' part (Attention's "valid")
        return state
    shape = [1] * state.dim()
    shape[dims] = -1
    return torch.where(fresh.view(shape), new, state)


def reset_rows(model: torch.nn.Module, state: dict, fresh: torch.Tensor) -> dict:
    """`state` with the rows where `fresh` (B,) is True started afresh: every in-context state
    of those rows at its initial value, except the components the spec persists (`persist`:
    never reset) -- stream training, where each row's stream ends at its own window. The
    clock is the batch's and runs on (`streams.check_window` says when that is exact)."""
    batch = int(fresh.shape[0])
    new = model.init_state(batch)
    dims = _batch_dims(model.init_state(1), model.init_state(2))
    out = _where(fresh, state, new, dims)
    kept = carried(model, state)  # the persisted components go on as they were
    return merge_state(out, kept)


def span(module: Updating, state: dict, t: int | None, *xs):
    """A component over a span of tokens xs (B, n, ...) that starts after token t of its
    sequence: one call per stretch between its own boundaries inside the span, each followed by
    the updates due there (`clock.fire_due`). The boundary at the span's end is the loop
    nest's (`Model.forward` fires it). Under the model's plain schedule a span never holds a
    boundary of any period, and this is one call; under the fused schedule a span runs to the
    next LM piece, and each component steps through its own boundaries -- legal because a
    component's state is read by nobody else, so its updates need no other component to wait.
    t is None: the caller knows the span holds no boundary (the plain schedule)."""
    if t is None:  # the plain schedule: no boundary inside, and no clock in a compiled step
        return module(*xs, state)
    out = module.scan(state, t, *xs) if isinstance(module, Scanning) else None
    if out is not None:  # the module runs its own boundaries (e.g. loop fission)
        return out
    n = xs[0].shape[1]
    cuts = segments(t, n, all_periods(module))
    if len(cuts) == 1:
        return module(*xs, state)
    lengths = [e - s for s, e in cuts]
    prepared = isinstance(module, Prepared)
    if prepared:  # the per-token work of the whole span at once (projections, convolutions)
        pieces, state = module.prepare(*xs, state, lengths)
        step, dim = module.segment, module.span_dim
    else:  # split, not slices: a slice's backward zero-fills the whole span, once per segment
        pieces = list(zip(*(torch.split(x, lengths, 1) for x in xs), strict=True))
        step, dim = module, 1
    ys = []
    for (_, e), piece in zip(cuts, pieces, strict=True):
        y, state = step(*piece, state)
        ys.append(y)
        if e < n:
            state = fire_due(module, state, t + e)
    y = torch.cat(ys, dim)
    return (module.output(y, *xs) if prepared else y), state


def run(module: Updating, *xs, state: dict | None = None, finish: bool = True, t: int = 0):
    """One streaming module alone through a whole sequence xs (B, T, ...): the loop nest of a
    model with this single component (tests, scripts). `state` continues a stream (with `t`
    tokens already seen); `finish` flushes or drops the partial chunks at the end. Returns
    (y, state) with the clock under "t"."""
    batch, n = xs[0].shape[0], xs[0].shape[1]
    st = module.init_state(batch) if state is None else copy_state(state)
    st.pop("t", None)
    ys = []
    for s, e in segments(t, n, all_periods(module)):
        y, st = module(*(x[:, s:e] for x in xs), st)
        ys.append(y)
        st = fire_due(module, st, t + e)
    t += n
    if finish:
        st = finish_state(module, st, t)
    return torch.cat(ys, 1), {**st, "t": t}


def finish_state(module: Updating, state: dict, t: int) -> dict:
    """The end of a sequence of `t` tokens for one module: every group with a partial chunk
    updates (flush) or goes back to its chunk start (drop), faster first (`clock.finish_due`)."""
    return finish_due(module, state, t)
