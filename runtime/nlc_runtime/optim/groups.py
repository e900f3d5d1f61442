"""Parameter groups for optimizers that treat matrices specially (Muon, M3, DGD).

Muon-style rules orthogonalise hidden-layer weight matrices. Users expect embeddings, output
heads, norm gains and biases to stay on AdamW: an embedding's rows are looked up one at a time
(orthogonalising the table would couple unrelated tokens) and vectors have no matrix to
orthogonalise. `split_matrix_params` makes that split from a model.
"""

from __future__ import annotations

import torch.nn as nn


def split_matrix_params(
    model: nn.Module, matrix_rule: str, exclude: tuple[str, ...] = ()
) -> list[dict]:
    """Two param groups: {"rule": matrix_rule} with the ≥2-D weights of hidden layers, and
    {"rule": "adamw"} with the rest. Excluded from the matrix group: parameters of nn.Embedding
    modules (tied heads share them) and of modules whose qualified name is in `exclude` or
    starts with an excluded name plus '.' (e.g. the spec's lm_head component)."""
    embedding = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()
    }
    matrices, others, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        skipped = id(p) in embedding or any(name == e or name.startswith(e + ".") for e in exclude)
        (matrices if p.dim() >= 2 and not skipped else others).append(p)
    groups = []
    if matrices:
        groups.append({"params": matrices, "rule": matrix_rule})
    if others:
        groups.append({"params": others, "rule": "adamw"})
    return groups
