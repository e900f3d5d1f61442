"""Score a trained model on task examples: teacher-forced greedy accuracy on the answer tokens.

Each example is one sequence from a fresh state, fed in pieces of the model's context with the
state each call returns passed to the next (as `nlc eval --stream` does), so a memory keeps
what it learned and attention sees at most its window / cache back. The prediction of an
answer token is the argmax of the logits at the token before it, every earlier token (earlier
answer tokens included) being the true one. Examples of the same length run as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlc.tasks.taskfile import Example, TaskError


@dataclass(frozen=True)
class Scored:
    """One answer: its distance, how many tokens it has and how many were predicted right."""

    distance: int
    tokens: int
    correct: int

    @property
    def exact(self) -> bool:
        return self.correct == self.tokens


def tokenize_example(example: Example, tokenizer, vocab_size: int):
    """The example's tokens and each answer's token range: the tokens form as it is, the text
    cut at the answer spans and tokenized piece by piece (`tokenize_spans` of
    `nlc_runtime.training.examples`, the rule training on a task file uses: an answer is whole
    tokens)."""
    from nlc_runtime.errors import DataError
    from nlc_runtime.training.examples import check_vocab, tokenize_spans

    if example.tokens is not None:
        tokens, ranges = example.tokens, [(a.start, a.end) for a in example.answers]
    else:
        spans = [(a.start, a.end) for a in example.answers]
        tokens, ranges = tokenize_spans(example.text, spans, tokenizer)
    try:
        check_vocab(tokens, vocab_size, example.task or "example")
    except DataError as err:
        raise TaskError(str(err)) from None
    return tokens, ranges


def greedy_predictions(loaded, batch, piece: int):
    """(B, T-1) argmax predictions of tokens 1..T-1 of a (B, T) batch, streamed in pieces."""
    import torch

    device = next(loaded.model.parameters()).device
    x_all, y_all = batch[:, :-1], batch[:, 1:]
    out, state = [], None
    with torch.no_grad():
        for start in range(0, x_all.shape[1], piece):
            x = x_all[:, start : start + piece].to(device)
            y = y_all[:, start : start + piece].to(device)
            extra = {"targets": y} if loaded.uses_targets else {}
            logits, state = loaded.model(x, state, **extra)
            out.append(logits.argmax(-1).cpu())
    return torch.cat(out, dim=1)


def score_examples(
    loaded, examples: list[Example], piece: int, batch_size: int = 8, progress=None
) -> list[Scored]:
    """Every answer of every example, scored (in file order)."""
    import torch

    encoded = [tokenize_example(e, loaded.tokenizer, loaded.vocab_size) for e in examples]
    by_length: dict[int, list[int]] = {}
    for i, (tokens, _) in enumerate(encoded):
        by_length.setdefault(len(tokens), []).append(i)
    results: dict[int, list[Scored]] = {}
    done = 0
    for length in sorted(by_length):
        group = by_length[length]
        for b in range(0, len(group), batch_size):
            ids = group[b : b + batch_size]
            batch = torch.tensor([encoded[i][0] for i in ids], dtype=torch.long)
            predicted = greedy_predictions(loaded, batch, piece)
            for row, i in enumerate(ids):
                scored = []
                for a, (lo, hi) in zip(examples[i].answers, encoded[i][1]):
                    # token t is predicted at position t - 1
                    right = predicted[row, lo - 1 : hi - 1] == batch[row, lo:hi]
                    scored.append(Scored(a.distance, hi - lo, int(right.sum())))
                results[i] = scored
            done += len(ids)
            if progress is not None:
                progress(done, len(examples))
    return [s for i in range(len(examples)) for s in results[i]]
