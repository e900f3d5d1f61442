"""The language-model signal of CMS blocks (spec `signal: lm`, NL Eq. 71 as the public HOPE
reproduction reads it): a level learns from dL/dy, the gradient of the language-model loss at
the CMS block's output.

Definition (the reference interpreter computes the same, token by token). The sequence is cut
into LM pieces of `lm_piece` tokens on the absolute clock (the gcd of the LM-signal periods,
`nlc plan`), so no LM-signal level changes inside a piece. At the end of each piece the summed
cross-entropy of its tokens (targets -1 count nothing) is differentiated, along every path of
the model, to the output of every LM-signal CMS at every token of the piece; that gradient is
the teach signal (detached: the outer gradient does not flow through it), and each CMS adds its
levels' gradients for those tokens (`CMS.learn`) before the next piece runs. The levels then
update at their own boundaries. Summing (not averaging) over tokens and batch makes one
sequence's updates independent of the batch and of how the sequence is fed in pieces.

The model's loop nest keeps the piece in progress in `state["lm"]`: its loss so far and, per
CMS, the inputs and outputs of its segments (with their graphs), so a piece may also span two
calls of a stream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def piece() -> dict:
    """An empty LM piece: no loss yet, and for each LM-signal CMS (in the order `record` is
    given them) the inputs and outputs of its segments."""
    return {"loss": None, "taps": []}


def _tapped(state, out: list[dict]) -> list[dict]:
    """The states of the LM-signal CMS blocks (those holding a segment's "x" and "y"), in the
    order of the state's dicts and lists -- the order `Model.learn` visits them."""
    if isinstance(state, dict):
        if "x" in state and "y" in state:
            out.append(state)
        for key, value in state.items():
            if key not in ("lm", "x", "y"):
                _tapped(value, out)
    elif isinstance(state, list):
        for value in state:
            _tapped(value, out)
    return out


def record(current: dict, logits: torch.Tensor, targets, state: dict) -> dict:
    """Add a segment to the piece: its summed loss (logits (B, n, V), targets (B, n) or None)
    and each CMS's segment input and output, which the CMS left in its state ("x", "y"; taken
    out of `state` here, so states stay the same whatever the segments were). Without targets
    nothing is learned from the segment."""
    cms_states = _tapped(state, [])
    taps = [list(t) for t in current["taps"]] or [[] for _ in cms_states]
    for i, st in enumerate(cms_states):
        x, y = st.pop("x"), st.pop("y")
        if targets is not None:
            taps[i].append((x, y))
    loss = current["loss"]
    if targets is not None:
        if logits.dtype not in (torch.float32, torch.float64):  # bf16 autocast: sum in float32
            logits = logits.float()
        seg = F.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), ignore_index=-1, reduction="sum"
        )
        loss = seg if loss is None else loss + seg
    return {"loss": loss, "taps": taps}


def teach(current: dict) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Per CMS, [(x, dL/dy)] for each recorded segment: the piece's loss differentiated to the
    CMS outputs (detached). Empty lists when the piece has no loss."""
    ys = [y for taps in current["taps"] for _, y in taps]
    loss = current["loss"]
    if loss is None or not ys or not loss.requires_grad:
        return [[] for _ in current["taps"]]
    grads = iter(torch.autograd.grad(loss, ys, retain_graph=True, allow_unused=True))
    out = []
    for taps in current["taps"]:
        row = []
        for x, y in taps:
            g = next(grads)
            row.append((x, torch.zeros_like(y) if g is None else g.detach()))
        out.append(row)
    return out
