"""Claims about outer optimizers: a spec `optimizer` section, run as a memory of the gradients
(nlc_runtime.optim.build_optimizer, what the emitted train.py builds), reproduces a
`torch.optim` class step for step (NL §4: momentum and Adam are associative memories; with
these settings they collapse to the textbook rules).

The check trains two float64 copies of one small MLP on one fixed regression batch for `steps`
optimizer steps, one with each optimizer (the same param groups: weight decay on matrices only,
as train.py), and reports the largest difference of any parameter and of any loss.
"""

from __future__ import annotations

import copy

# torch.optim class and the spec settings it takes (with torch's argument names)
REFERENCES = {
    "sgd": ("SGD", ("lr", "momentum", "nesterov")),
    "adam": ("Adam", ("lr", "betas", "eps")),
    "adamw": ("AdamW", ("lr", "betas", "eps")),
}


def _model(seed: int):
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    return net.double()


def _train(model, optimizer, steps: int, seed: int) -> list[float]:
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(32, 6, generator=g, dtype=torch.float64)
    y = torch.randn(32, 3, generator=g, dtype=torch.float64)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def run_optimizer_claim(
    settings: dict, reference: str, steps: int = 100, seed: int = 0, tol: float = 1e-10
) -> dict:
    """The claim's verdict as a JSON-able dict (`holds`, `numerical`)."""
    import torch
    from nlc_runtime.optim import build_optimizer
    from pydantic import TypeAdapter

    from nlc.spec.optimizers import OuterOptimizer

    # the spec's defaults filled in, exactly what the emitted train.py passes on
    settings = TypeAdapter(OuterOptimizer).validate_python(settings).model_dump()
    cls_name, keys = REFERENCES[reference]
    ours_model = _model(seed)
    ref_model = copy.deepcopy(ours_model)
    ours = build_optimizer(ours_model, **settings)
    wd = settings.get("weight_decay", 0.0)
    params = list(ref_model.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": wd},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    kwargs = {k: tuple(settings[k]) if k == "betas" else settings[k] for k in keys if k in settings}
    theirs = getattr(torch.optim, cls_name)(groups, **kwargs)
    a = _train(ours_model, ours, steps, seed)
    b = _train(ref_model, theirs, steps, seed)
    pdiff = max(
        (p - q).abs().max().item()
        for p, q in zip(ours_model.parameters(), ref_model.parameters(), strict=True)
    )
    ldiff = max(abs(x - y) for x, y in zip(a, b, strict=True))
    holds = pdiff <= tol and ldiff <= tol
    return {
        "reference": f"torch.optim.{cls_name}",
        "holds": holds,
        "numerical": {
            "holds": holds,
            "steps": steps,
            "max_param_diff": pdiff,
            "max_loss_diff": ldiff,
            "loss": [a[0], a[-1]],
            "tolerance": tol,
        },
    }
