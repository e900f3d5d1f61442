"""Numerical check of a claim: equal weights through the structural correspondence give equal
outputs and gradients (float64, CPU).

Weight mapping. The structural check pairs every source node with a target node. A weight
state belongs to a component; the emitted model keeps that component's parameters under the
module path of the same dotted name (`layers.0.attn` -> `model.layers[0].attn`). Each side's
parameters are listed under *canonical local names*, so that corresponding components can be
matched name for name:
- an ordinary component: its parameter names relative to its module (`qkv.weight`, ...);
- a CMS level expanded by `expand_outer_cms` (`<cms>.level<i>.norm` / `.mlp`): the CMS's
  `norms.<i>.weight` is the norm's `weight`; `W1.<i>` and `W2.<i>` (used as n @ W1) are the
  MLP's `up.weight` and `down.weight` transposed (nn.Linear stores out x in).
Every target parameter must receive exactly one source parameter of the same shape; source
parameters left over are reported (they must not influence the output: their gradient is
checked to be zero, e.g. a CMS's unused local-objective target W_v of an outer level).

Then both models run forward on the same random tokens; the loss is <logits, R> for a fixed
random R, and the gradients of corresponding parameters are compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nlc.pipeline import FrontResult
from nlc.verify.build import build_model
from nlc.verify.structural import canonical

_EXPANDED = re.compile(r"^(?P<cms>.+)\.level(?P<i>\d+)\.(?P<role>norm|mlp)$")

# (canonical local name, parameter path relative to the CMS module, transposed)
_CMS_LEVEL_PARAMS = {
    "norm": [("weight", "norms.{i}.weight", False)],
    "mlp": [("up.weight", "W1.{i}", True), ("down.weight", "W2.{i}", True)],
}


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


def component_params(model, component: str) -> dict[str, tuple[str, bool]]:
    """Canonical local name -> (full parameter name in `model`, transposed) of a component."""
    names = dict(model.named_parameters())
    m = _EXPANDED.match(component)
    if m and any(n.startswith(f"{m['cms']}.W1.") for n in names):
        out = {}
        for local, path, transposed in _CMS_LEVEL_PARAMS[m["role"]]:
            full = f"{m['cms']}.{path.format(i=m['i'])}"
            if full in names:
                out[local] = (full, transposed)
        return out
    prefix = component + "."
    return {n[len(prefix) :]: (n, False) for n in names if n.startswith(prefix)}


def weight_mapping(src_model, tgt_model, src: FrontResult, tgt: FrontResult, correspondence):
    """Pairs (source parameter, source transposed, target parameter, target transposed) and
    the problems found (unmatched names or shapes)."""
    a, b = canonical(src), canonical(tgt)
    pairs, problems = [], []
    done_components = set()
    for s_name, t_name in sorted(correspondence.items()):
        s_node, t_node = a.node(s_name), b.node(t_name)
        if not s_node.is_state or t_node.component in done_components:
            continue
        done_components.add(t_node.component)
        sp = component_params(src_model, s_node.component)
        tp = component_params(tgt_model, t_node.component)
        for local, (t_full, t_tr) in sorted(tp.items()):
            if local not in sp:
                problems.append(
                    f"{t_full}: no parameter '{local}' in source component {s_node.component}"
                )
                continue
            s_full, s_tr = sp[local]
            pairs.append((s_full, s_tr, t_full, t_tr))
    return pairs, problems


def _view(tensor, transposed: bool):
    return tensor.t() if transposed else tensor


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
        for s_full, s_tr, t_full, t_tr in pairs:
            s_val, t_dst = _view(sparams[s_full], s_tr), _view(tparams[t_full], t_tr)
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
    for s_full, s_tr, t_full, t_tr in pairs:
        gs, gt = sparams[s_full].grad, tparams[t_full].grad
        if gs is None or gt is None:
            continue
        d = (_view(gs, s_tr) - _view(gt, t_tr)).abs().max().item()
        if d > worst:
            worst, worst_name = d, f"{s_full} ~ {t_full}"
    used = {p[0] for p in pairs}
    for name in sorted(set(sparams) - used):
        g = sparams[name].grad
        if g is not None and g.abs().max().item() > 0:
            problems.append(f"source parameter {name} has no counterpart but moves the output")
    result.max_grad_diff, result.worst_grad = worst, worst_name
    scale = max(1.0, ys[0].abs().max().item())
    result.holds = (
        not problems and result.max_output_diff <= tol * scale and worst <= tol * scale * 10
    )
    return result
