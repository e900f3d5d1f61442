"""Differential check: the emitted chunk-parallel model against the reference interpreter.

Both get the same weights (the interpreter's naive model's state_dict is loaded into the
chunked model); on random tokens we compare the logits and the gradients of <logits, R> with
respect to every outer parameter, in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlc.pipeline import FrontResult
from nlc.verify.build import build_model
from nlc.verify.reference import interpret, reference_model


@dataclass
class Agreement:
    max_output_diff: float
    max_grad_diff: float
    worst_param: str
    n_params: int

    def to_json(self) -> dict:
        return dict(self.__dict__)


def compare_with_reference(
    front: FrontResult, tokens: int = 24, batch: int = 2, seed: int = 0
) -> Agreement:
    import torch

    ref = reference_model(front, seed)
    fast = build_model(front, "chunked", seed + 1)
    fast.load_state_dict(ref.state_dict())
    gen = torch.Generator().manual_seed(seed + 3)
    T = min(tokens, front.full.model.context)
    idx = torch.randint(0, front.full.model.vocab_size, (batch, T), generator=gen)
    # targets for LM-signal CMS blocks (other models do not read them)
    targets = torch.randint(0, front.full.model.vocab_size, (batch, T), generator=gen)
    y_ref = interpret(front, ref, idx, targets)
    y_fast, _ = fast(idx, targets=targets) if fast.uses_targets else fast(idx)
    R = torch.randn(y_ref.shape, generator=gen, dtype=torch.float64)
    (y_ref * R).sum().backward()
    (y_fast * R).sum().backward()
    worst, worst_name = 0.0, ""
    fast_params = dict(fast.named_parameters())
    for name, p in ref.named_parameters():
        g1, g2 = p.grad, fast_params[name].grad
        if g1 is None and g2 is None:
            continue
        if g1 is None or g2 is None:
            d = float("inf")
        else:
            d = (g1 - g2).abs().max().item()
        if d > worst:
            worst, worst_name = d, name
    return Agreement((y_ref - y_fast).abs().max().item(), worst, worst_name, len(fast_params))
