"""Hand-built models for the task tests: one that copies from arbitrarily far back, and two
that cannot copy at all. Each looks like a loaded run to the scorer (`model(x, state)` ->
(logits, state), a tokenizer, a vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

VOCAB = 256


class CopyFromFarBack(nn.Module):
    """An induction head with unbounded reach: predict the token that followed the most recent
    earlier occurrence of the longest suffix (up to `longest` tokens) of the text so far. The
    state is the text so far and the last position of every n-gram in it, so a sequence fed
    in pieces is predicted exactly as in one call."""

    uses_targets = False

    def __init__(self, longest: int = 16):
        super().__init__()
        self.longest = longest
        self.anchor = nn.Parameter(torch.zeros(()))  # the scorer asks for a parameter's device

    def forward(self, x, state=None):
        B, T = x.shape
        if state is None:
            state = [([], [{} for _ in range(self.longest + 1)]) for _ in range(B)]
        logits = torch.zeros(B, T, VOCAB)
        for b in range(B):
            text, last_end = state[b]
            for t in range(T):
                text.append(int(x[b, t]))
                n = len(text)
                for length in range(min(self.longest, n - 1), 0, -1):
                    end = last_end[length].get(tuple(text[n - length :]))
                    if end is not None:
                        logits[b, t, text[end + 1]] = 10.0
                        break
                for length in range(1, min(self.longest, n) + 1):  # after the look-up
                    last_end[length][tuple(text[n - length :])] = n - 1
        return logits, state


class Constant(nn.Module):
    """Always predicts one token: a unigram model's argmax."""

    uses_targets = False

    def __init__(self, token: int):
        super().__init__()
        self.token = token
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x, state=None):
        logits = torch.zeros(*x.shape, VOCAB)
        logits[..., self.token] = 1.0
        return logits, state


class Guesser(nn.Module):
    """Knows the answer alphabet but not the answer: a random member of it each time."""

    uses_targets = False

    def __init__(self, alphabet: str, seed: int = 0):
        super().__init__()
        self.ids = torch.tensor([ord(c) for c in alphabet])
        self.generator = torch.Generator().manual_seed(seed)
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x, state=None):
        logits = torch.full((*x.shape, VOCAB), -1e9)
        pick = torch.randint(len(self.ids), x.shape, generator=self.generator)
        logits.scatter_(-1, self.ids[pick].unsqueeze(-1), 1.0)
        return logits, state


@dataclass
class FakeRun:
    """What `score_examples` reads of a loaded run."""

    model: nn.Module
    run: str = "hand-built"
    context: int = 32
    vocab_size: int = VOCAB
    uses_targets: bool = False

    def __post_init__(self):
        from nlc_runtime.training.data import ByteTokenizer

        self.tokenizer = ByteTokenizer()
