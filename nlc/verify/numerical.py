"""Numerical check of a claim: equal weights through the structural correspondence give equal
outputs and gradients (float64, CPU).

Weight mapping. The structural check pairs every source node with a target node. A weight
state belongs to a component; the emitted model keeps that component's parameters under the
module path of the same dotted name (`layers.0.attn` -> `model.layers[0].attn`). Each side's
parameters are listed under *canonical local names*, so that corresponding components can be
matched name for name; where a rewrite changed what runs a component, its kind says where its
parameters sit (`ComponentBase.canonical_parameters`, `part_parameters`):
- an ordinary component: its parameter names relative to its module (`qkv.weight`, ...);
- a part a rewrite made out of a component (a CMS level expanded by `expand_outer_cms`,
  `<cms>.level<i>.norm` / `.mlp`): the parameters its owner's kind places for it (`nlc.kinds.cms`);
- a memory rewritten as `frozen_memory` by `freeze_static_memories` whose module is the
  runtime's `NeuralMemory`: its read path only, as `nlc.kinds.frozen_memory` places it.
Every target parameter must receive exactly one source parameter (or row block) of the same
shape; whatever of a source parameter is left over is reported if it influences the output:
its gradient must be zero (e.g. the local-objective target W_v of a CMS level folded because
it never updates within a sequence, or the keys, values and gates of a memory that never learns).

Then both models run forward on the same random tokens; the loss is <logits, R> for a fixed
random R, and the gradients of corresponding parameters are compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nlc.kinds.base import View
from nlc.pipeline import FrontResult
from nlc.verify.build import build_model
from nlc.verify.structural import canonical


@dataclass
class NumericalResult:
    holds: bool
    max_output_diff: float = 0.0
    max_grad_diff: float = 0.0
    tolerance: float = 0.0
    mapped: int = 0
    problems: list[str] = field(default_factory=list)
    worst_grad: str = ""

    def to_json(self) -> dict:
        return {
            "holds": self.holds,
            "max_output_diff": self.max_output_diff,
            "max_grad_diff": self.max_grad_diff,
            "worst_grad": self.worst_grad,
            "tolerance": self.tolerance,
            "mapped_parameters": self.mapped,
            "problems": self.problems,
        }


def component_params(
    model, component: str, kinds: Mapping[str, Any], owners: Mapping[str, Any]
) -> dict[str, tuple[str, View]]:
    """Canonical local name -> (full parameter name in `model`, view) of a component; `kinds`:
    the components as the canonical graph has them (a rewrite may have changed one's kind),
    `owners`: the spec's components, which place the parameters of the parts a rewrite made
    out of them."""
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}

    def relative(prefix: str) -> dict[str, tuple[int, ...]]:
        return {n[len(prefix) + 1 :]: s for n, s in shapes.items() if n.startswith(prefix + ".")}

    own = relative(component)
    if own:
        kind = kinds.get(component)
        placed = kind.canonical_parameters(own) if kind is not None else {n: (n, None) for n in own}
        return {local: (f"{component}.{n}", view) for local, (n, view) in placed.items()}
    parts = component.split(".")
    for k in range(len(parts) - 1, 0, -1):  # the nearest enclosing component owns the part
        owner = ".".join(parts[:k])
        if owner in owners:
            placed = owners[owner].part_parameters(".".join(parts[k:]), relative(owner))
            return {local: (f"{owner}.{n}", view) for local, (n, view) in placed.items()}
    return {}


def weight_mapping(src_model, tgt_model, src: FrontResult, tgt: FrontResult, correspondence):
    """Pairs (source parameter, source view, target parameter, target view) and the problems
    found (unmatched names or shapes)."""
    a, b = canonical(src), canonical(tgt)
    pairs, problems = [], []
    done_components = set()
    for s_name, t_name in sorted(correspondence.items()):
        s_node, t_node = a.node(s_name), b.node(t_name)
        if not s_node.is_state or t_node.component in done_components:
            continue
        done_components.add(t_node.component)
        sp = component_params(src_model, s_node.component, a.components, src.full.components)
        tp = component_params(tgt_model, t_node.component, b.components, tgt.full.components)
        for local, (t_full, t_view) in sorted(tp.items()):
            if local not in sp:
                problems.append(
                    f"{t_full}: no parameter '{local}' in source component {s_node.component}"
                )
                continue
            s_full, s_view = sp[local]
            pairs.append((s_full, s_view, t_full, t_view))
    return pairs, problems


def _view(tensor, view: View):
    if view == "T":
        return tensor.t()
    if isinstance(view, tuple):
        return tensor[view[0] : view[1]]
    return tensor


def check(
    src: FrontResult,
    tgt: FrontResult,
    correspondence: dict[str, str],
    tokens: int = 32,
    batch: int = 2,
    seed: int = 0,
    tol: float = 1e-9,
    impl: str = "chunked",
    tamper=None,
) -> NumericalResult:
    """Map weights source -> target, run both, compare. `tamper(pairs) -> pairs` lets tests
    corrupt the mapping to show the check catches it."""
    import torch

    src_model = build_model(src, impl, seed)
    tgt_model = build_model(tgt, impl, seed + 1)
    pairs, problems = weight_mapping(src_model, tgt_model, src, tgt, correspondence)
    if tamper is not None:
        pairs = tamper(pairs)
    sparams, tparams = dict(src_model.named_parameters()), dict(tgt_model.named_parameters())
    assigned = set()
    with torch.no_grad():
        for s_full, s_view, t_full, t_view in pairs:
            s_val, t_dst = _view(sparams[s_full], s_view), _view(tparams[t_full], t_view)
            if s_val.shape != t_dst.shape:
                problems.append(f"{s_full} {tuple(s_val.shape)} -> {t_full} {tuple(t_dst.shape)}")
                continue
            t_dst.copy_(s_val)
            assigned.add(t_full)
    for name in sorted(set(tparams) - assigned):
        problems.append(f"target parameter {name} receives no source weight")
    result = NumericalResult(False, tolerance=tol, mapped=len(assigned), problems=problems)
    if problems:
        return result
    T = min(tokens, src.full.model.context)
    gen = torch.Generator().manual_seed(seed + 7)
    idx = torch.randint(0, src.full.model.vocab_size, (batch, T), generator=gen)
    ys = []
    for model in (src_model, tgt_model):
        logits, _ = model(idx)
        ys.append(logits)
    R = torch.randn(ys[0].shape, generator=gen, dtype=torch.float64)
    for y in ys:
        (y * R).sum().backward()
    result.max_output_diff = (ys[0] - ys[1]).abs().max().item()
    worst, worst_name = 0.0, ""
    for s_full, s_view, t_full, t_view in pairs:
        gs, gt = sparams[s_full].grad, tparams[t_full].grad
        if gs is None or gt is None:
            continue
        d = (_view(gs, s_view) - _view(gt, t_view)).abs().max().item()
        if d > worst:
            worst, worst_name = d, f"{s_full} ~ {t_full}"
    # what no target parameter received (whole parameters, or rows outside the mapped blocks)
    # must not move the output: its gradient is exactly zero
    for name, p in sorted(sparams.items()):
        if p.grad is None:
            continue
        left = torch.ones_like(p.grad, dtype=torch.bool)
        for s_full, s_view, _, _ in pairs:
            if s_full == name:
                _view(left, s_view).fill_(False)
        if left.any() and p.grad[left].abs().max().item() > 0:
            part = "has no counterpart" if left.all() else "has unmapped entries that"
            problems.append(f"source parameter {name} {part} but moves the output")
    result.max_grad_diff, result.worst_grad = worst, worst_name
    scale = max(1.0, ys[0].abs().max().item())
    result.holds = (
        not problems and result.max_output_diff <= tol * scale and worst <= tol * scale * 10
    )
    return result
