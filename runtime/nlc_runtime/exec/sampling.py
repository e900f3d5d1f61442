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
    # shifted so the largest is 0 before dividing: any temperature > 0 stays finite (the
    # largest stays 0, the others go to -inf at worst; softmax is shift-invariant)
    logits = (logits - logits.amax(-1, keepdim=True)) / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)


@torch.no_grad()
def feed(
    model: torch.nn.Module, ids: torch.Tensor, state: dict | None, piece: int
) -> tuple[torch.Tensor, dict | None]:
    """All but the last `piece` tokens of ids (B, n) fed in pieces of `piece` tokens, the state
    carried from each to the next (a model that learns from its targets is given them): (the
    tokens not fed, the state). One call over a long prompt would need memory growing as the
    square of its length; pieces equal one call (the state carries the clock)."""
    head = max(0, ids.shape[1] - piece)
    learns = getattr(model, "uses_targets", False)
    for start in range(0, head, piece):
        end = min(start + piece, head)
        extra = {"targets": ids[:, start + 1 : end + 1]} if learns else {}
        _, state = model(ids[:, start:end], state, **extra)
    return ids[:, head:], state


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    prompt: torch.Tensor,
    steps: int,
    temperature: float = 0.8,
    top_k: int = 40,
    state: dict | None = None,
    generator: torch.Generator | None = None,
    piece: int | None = None,
) -> tuple[torch.Tensor, dict]:
    """prompt (B, n) token ids -> (B, n + steps) ids and the state after them (the last
    sampled token not fed yet). `state`: a state to continue (None: a new sequence). `piece`:
    a prompt longer than this is read in pieces of it (`feed`; the model's context)."""
    learns = getattr(model, "uses_targets", False)
    ids = [prompt]
    if piece is not None:
        ids = [prompt[:, : max(0, prompt.shape[1] - piece)]]
        prompt, state = feed(model, prompt, state, piece)
        ids.append(prompt)
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
