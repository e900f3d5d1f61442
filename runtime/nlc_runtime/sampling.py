"""Generation that carries memory: the prompt is fed once, then one token at a time through
the state the model returns (memories update at their boundaries, attention reads its cache).
Nothing is re-run and nothing is forgotten at a window's edge: a memory model generates past
its training context with everything it learned in context; attention alone slides its window
(its cache keeps the last `context` tokens).

A model whose CMS learns from the LM loss (`Model.uses_targets`) needs each token's target to
learn from it, and the target of the newest token is the token not sampled yet. So each token
is first read (its logits pick the next token), then fed again with that next token as its
target, from the same state: two forward steps per token, and exactly the state a forward over
the whole text with its targets would leave.
"""

from __future__ import annotations

import torch


def next_token(
    logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, V) logits -> (B, 1) token ids: argmax at temperature 0, else a sample from the
    softmax of logits / temperature over the top_k (0: all) most likely tokens."""
    logits = logits.float()
    if temperature <= 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    prompt: torch.Tensor,
    steps: int,
    temperature: float = 0.8,
    top_k: int = 40,
    state: dict | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict]:
    """prompt (B, n) token ids -> (B, n + steps) ids and the state after them (the last
    sampled token not fed yet). `state`: a state to continue (None: a new sequence)."""
    learns = getattr(model, "uses_targets", False)
    ids = [prompt]
    if learns:
        if prompt.shape[1] > 1:
            _, state = model(prompt[:, :-1], state, targets=prompt[:, 1:])
        last = prompt[:, -1:]
        logits, _ = model(last, state)
    else:
        logits, state = model(prompt, state)
    for i in range(steps):
        nxt = next_token(logits[:, -1], temperature, top_k, generator)
        ids.append(nxt)
        if learns:  # the newest token's target is known now: it teaches
            _, state = model(last, state, targets=nxt)
            last = nxt
        if i == steps - 1:  # the last sampled token is not fed
            break
        if learns:
            logits, _ = model(last, state)
        else:
            logits, state = model(nxt, state)
    return torch.cat(ids, 1), state
