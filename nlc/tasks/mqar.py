"""Multi-query associative recall (MQAR) as Zoology sets it (Arora et al. 2023, "Zoology:
Measuring and Improving Recall in Efficient Language Models"; `multiquery_ar` in their code).

One token per symbol. The vocabulary is split into keys and values (half each); an example is
`--pairs` key-value pairs, then a query region that fills the example to `--seq-len` tokens:

    k1 v1 k2 v2 ... kP vP | . k3 v3 : ; k1 v1 . , - k2 v2 ...
                            ^ slot 0   ^ slot 2       ^ a query's value is an answer

The region is cut into 2-token slots; each queried key goes to a slot drawn, without
replacement, with probability proportional to (slot + 1) ** -alpha, and its value follows it
(the answer: distance = its position - the position of the value in the pairs). The other
tokens are noise. `--alpha 0` places queries uniformly; the default 0.99 is Zoology's
`power_a=0.01` (p ∝ slot ** (power_a - 1)): most queries soon after the pairs, a heavy tail
further on, as repeated bigrams are in real text. Keys and values are distinct within an
example (sampled without replacement, as Zoology does).

Two departures, both so that a key occurs only where it was put (every answer is determined,
and a copying model scores exactly 100%): Zoology draws its noise from the whole vocabulary,
here from symbols of its own; and the value after a query is the true value (Zoology puts
noise there and only labels it; a task file is teacher-forced text, the answer in it).

Files: with up to 86 key and value symbols (`--vocab`, default 86) every symbol is one
printable ASCII character, hence one byte token, and the file is readable text: keys from
A-Z, 0-9 and #$%&*@^ (43), values from a-z and !'()+/<=>?[]_{|}~ (43), noise from " .,:;-".
Above that (Zoology's vocabulary is 8192) the examples are written in the tokens form (see
`taskfile.py`): noise ids 1-6, keys from 7, values after them; id 0, the padding of aligned
training, is never used, and the model's vocabulary must exceed `--vocab` + 6.

`--gaps` (default 0) inserts that many noise tokens between the pairs and the query region:
`--gaps 0,256` pushes every distance past 256 to test recall beyond a window; `--n` examples
are written per gap, each `--seq-len` + gap tokens long.
"""

from __future__ import annotations

import bisect
import itertools
import random
import string

from nlc.tasks.taskfile import Answer, Example, TaskError, check_bounds

TEXT_KEYS = string.ascii_uppercase + string.digits + "#$%&*@^"
TEXT_VALUES = string.ascii_lowercase + "!'()+/<=>?[]_{|}~"
TEXT_NOISE = " .,:;-"
assert len(TEXT_KEYS) == len(TEXT_VALUES) == 43
assert len(set(TEXT_KEYS + TEXT_VALUES + TEXT_NOISE)) == 43 + 43 + 6
TEXT_VOCAB = len(TEXT_KEYS) + len(TEXT_VALUES)  # the most symbols a byte-token text offers
NOISE_IDS = len(TEXT_NOISE)  # the tokens form: noise ids 1..6, keys and values after them

OPTIONS = {
    "vocab": ("int", TEXT_VOCAB, "key and value symbols, half each (above 86: token ids)"),
    "seq_len": ("int", 256, "tokens of the pairs and the query region"),
    "pairs": ("int", 16, "key-value pairs per example"),
    "queries": ("int", 0, "keys asked per example (0: every key)"),
    "alpha": ("float", 0.99, "query slots drawn with p ~ (slot+1)^-alpha (0: uniform)"),
    "gaps": ("ints", [0], "noise tokens between the pairs and the queries"),
}


def _check(vocab, seq_len, pairs, queries, alpha, gaps) -> None:
    if vocab < 2:
        raise TaskError(f"--vocab: expected 2 or more symbols (got {vocab})")
    if not 1 <= pairs <= vocab // 2:
        raise TaskError(
            f"--pairs: expected 1 to {vocab // 2} (the keys of --vocab {vocab}; got {pairs})"
        )
    if not 1 <= queries <= pairs:
        raise TaskError(f"--queries: expected 0 (all) to --pairs {pairs} (got {queries})")
    if seq_len < 2 * pairs + 2 * queries:
        raise TaskError(
            f"--seq-len: {seq_len} tokens cannot hold {pairs} pairs and {queries} queries "
            f"(2 tokens each: {2 * pairs + 2 * queries} at least)"
        )
    if not alpha >= 0:  # NaN too
        raise TaskError(f"--alpha: expected a number >= 0 (got {alpha})")
    if not gaps or any(g < 0 for g in gaps):
        raise TaskError(f"--gaps: expected numbers >= 0 (got {gaps})")


def _draw_slots(rng: random.Random, cumulative: list[float], count: int) -> list[int]:
    """`count` distinct slots, each drawn with probability proportional to its weight among
    those left (numpy's choice(replace=False, p=...), which Zoology calls, does the same).
    Drawing from all slots and redrawing a taken one is that distribution exactly, and fast
    (training files hold 100k examples); after many redraws (the slots left are unlikely
    ones) the draw is made among the slots left directly."""
    total, taken, out = cumulative[-1], set(), []
    for _ in range(count):
        for _ in range(64):
            slot = bisect.bisect_right(cumulative, rng.random() * total)
            slot = min(slot, len(cumulative) - 1)  # rng.random() * total rounding up to total
            if slot not in taken:
                break
        else:
            left = [s for s in range(len(cumulative)) if s not in taken]
            weights = [cumulative[s] - (cumulative[s - 1] if s else 0.0) for s in left]
            slot = rng.choices(left, weights)[0]
        taken.add(slot)
        out.append(slot)
    return out


def size(n: int, seq_len: int = 256, gaps=OPTIONS["gaps"][1], **_) -> int:
    """Tokens of the examples `generate` writes with these options, in all."""
    return n * sum(seq_len + gap for gap in gaps)


def generate(
    seed: int,
    n: int,
    vocab: int = TEXT_VOCAB,
    seq_len: int = 256,
    pairs: int = 16,
    queries: int = 0,
    alpha: float = 0.99,
    gaps=OPTIONS["gaps"][1],
) -> list[Example]:
    """`n` examples per gap, in order of gap; the same seed gives the same file."""
    queries = queries or pairs
    _check(vocab, seq_len, pairs, queries, alpha, gaps)
    options = {"vocab": vocab, "seq_len": seq_len, "pairs": pairs, "queries": queries}
    check_bounds("mqar", n, {**options, "gaps": gaps}, size(n, seq_len=seq_len, gaps=gaps))
    n_keys = vocab // 2
    text = vocab <= TEXT_VOCAB
    if text:
        keys, values, noise = TEXT_KEYS[:n_keys], TEXT_VALUES[: vocab - n_keys], TEXT_NOISE
    else:
        first = 1 + NOISE_IDS
        keys = range(first, first + n_keys)
        values = range(first + n_keys, first + vocab)
        noise = range(1, first)
    space = (seq_len - 2 * pairs) // 2  # 2-token query slots (an odd seq_len: one noise more)
    cumulative = list(itertools.accumulate((slot + 1) ** -alpha for slot in range(space)))
    rng = random.Random(seed)
    examples = []
    for gap in gaps:
        for _ in range(n):
            ks, vs = rng.sample(keys, pairs), rng.sample(values, pairs)
            seq = [s for kv in zip(ks, vs) for s in kv]
            seq += rng.choices(noise, k=gap + seq_len - 2 * pairs)
            start = 2 * pairs + gap  # the query region
            asked = rng.sample(range(pairs), queries)
            placed = sorted(zip(_draw_slots(rng, cumulative, queries), asked))
            answers = []
            for slot, j in placed:
                at = start + 2 * slot
                seq[at], seq[at + 1] = ks[j], vs[j]
                value = vs[j] if text else (vs[j],)
                answers.append(Answer(at + 1, at + 2, value, at + 1 - (2 * j + 1)))
            extra = {"gap": gap}
            if text:
                examples.append(Example("mqar", "".join(seq), answers, values, extra))
            else:
                examples.append(Example("mqar", "", answers, tuple(values), extra, seq))
    return examples
