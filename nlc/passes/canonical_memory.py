"""What a parametric memory computes, independent of the kind name it was written with.

`linear_attention`, `delta_memory`, `titans_memory` and a `self_modifying_titans` with
self-modification off are all one family: projections q, k, v, a memory M (a matrix, or an MLP
of `depth` layers) read before it is written (o_t = M_{t-1}(q_t)) and trained in context on an
objective with an inner rule. Two memories whose signatures are equal compute the same thing,
so the structural check compares signatures, not kind names: that is what makes
"linear attention = a matrix memory with the dot objective and lr 1" and "DeltaNet = a
depth-1 memory with the delta rule" checkable.

Signature fields and the choices behind them:
- depth (1 = matrix memory); the MLP expansion only when depth > 1 (a matrix has no hidden);
- residual: self-modifying memories are residual MLPs x + W1 s(W2 x) (NL §8); a Titans memory
  is residual only when its spec says `residual: true` (Titans' own memories are not);
- conv window (null: none), heads, learn_init, feature map (identity unless linear attention
  says otherwise);
- the update rule: period, objective, lr/momentum/retention/clip/normalize, persist, partial chunk,
  stop_grad, and `delta_term`: the extra DGD term -theta k k^T M of the optimizer kind `dgd`
  (NL §8). The optimizer kind is then written as `gd` (a dgd step is a gd step plus that term)
  or `momentum` when it has momentum. Note that plain gd on ||M k - v||^2 with a matrix memory
  *is* the delta rule: M_t = (I - b k k^T) M_{t-1} + b v k^T, so a `delta_memory` (DeltaNet,
  optimizer gd by default) has no extra term, exactly as its spec documentation says.
- qk_norm: whether q and k are L2-normalised (a Titans memory may turn it off; the others
  always normalise).
"""

from __future__ import annotations

from typing import Any

from nlc.spec.common import DataDependent


def memory_signature(comp: Any) -> dict | None:
    """The canonical description of a single-memory component, or None for other kinds (and
    for self-modifying Titans with self-modification on: several memories, its own kind)."""
    shape = comp.memory_shape()  # each kind says whether, and how, it is one memory
    if shape is None:
        return None
    depth, expansion, residual, conv = shape
    u = comp.update
    opt = u.optimizer
    delta_term = opt.kind == "dgd"
    rule = "momentum" if opt.has_momentum else "gd"
    return {
        "family": "memory",
        "depth": depth,
        "expansion": expansion if depth > 1 else None,
        "residual": residual,
        "conv": conv,
        "heads": comp.heads,
        "learn_init": comp.learn_init,
        "feature_map": getattr(comp, "feature_map", "identity"),
        "qk_norm": getattr(comp, "qk_norm", True),
        "period": u.period,
        "objective": u.objective,
        "rule": rule,
        "delta_term": delta_term,
        "lr": _coef(opt.lr),
        "momentum": _coef(opt.momentum) if opt.has_momentum else None,
        "retention": _coef(opt.retention),
        "clip": opt.clip,
        "normalize": opt.normalize,
        "persist": u.persist,
        "partial_chunk": u.partial_chunk,
        "stop_grad": u.stop_grad,
    }


def _coef(value: Any) -> Any:
    """A coefficient as comparable data (`data_dependent` and its long form compare equal
    when their settings are the defaults)."""
    if isinstance(value, DataDependent):
        return value.model_dump(mode="json")
    if value == "data_dependent":
        return DataDependent().model_dump(mode="json")
    return float(value) if isinstance(value, (int, float)) else value
