"""What the current code generator can emit, checked before `nlc compile` / `nlc train`.

The spec language (and `check`, `levels`, `plan`, drawings) knows every optimizer kind of
`nlc.spec.optimizers`; the train.py template emits `adamw` and `sgd` without groups so far.
Compiling anything else stops with a spec error instead of a train.py that silently trains with
another rule. Remove entries here as the template learns them (runtime classes: SPEC_KINDS in
nlc_runtime.optim).
"""

from __future__ import annotations

from pathlib import Path

from nlc.spec.load import load_spec

EMITTED_OPTIMIZERS = ("adamw", "sgd")


def check_emittable(spec: str | Path) -> None:
    """Raise a SpecError naming the optimizer field codegen cannot emit yet."""
    loaded = load_spec(spec)
    opt = loaded.spec.optimizer
    later = "not emitted yet (nlc check, levels, plan and graph show it)"
    if opt.kind not in EMITTED_OPTIMIZERS:
        raise loaded.source.error(
            ("optimizer", "kind"),
            f"optimizer kind '{opt.kind}' is {later}; train.py emits: "
            + ", ".join(EMITTED_OPTIMIZERS),
        )
    if opt.groups:
        raise loaded.source.error(("optimizer", "groups"), f"optimizer groups are {later}")
    if not getattr(opt, "bias_correction", True):
        raise loaded.source.error(
            ("optimizer", "bias_correction"), f"bias_correction: false is {later}"
        )
