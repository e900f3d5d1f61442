"""Needle in a haystack: the single-needle tasks (S-NIAH) of RULER (Hsieh et al. 2024) as
Table 2 of Titans (Behrouz et al. 2025) reports them. A needle sentence is hidden in natural
text at a depth, the question comes at the end, and the model must write the answer:

    <haystack ...>The pass key is 73915. Remember it.\\n<... haystack>
    What is the pass key? The pass key is 73915.
                     value ^                 answer ^  (distance = answer start - value start)

- needles (`needle=`): `passkey` (five digits; RULER's S-NIAH-1 sentence), `number` (seven
  digits, keyed by a word: S-NIAH-2) and `word` (a modern noun, keyed by a word: a needle
  that is not a number). The question ends with the needle's own words, so a model that can
  find and copy the needle can answer.
- haystack: natural text, a contiguous passage from a seeded random offset of a source text
  (by default the held-out tail of the bundled corpus; `nlc eval` passes the run's own
  validation text). Digits are removed from the source, so the only digits of an example are
  the needle's value and the answer; a word needle is drawn again while it occurs in the
  passage. The passage starts at a line start where one is near.
- depth d%: the needle goes to the sentence or line start nearest d% of the haystack (0%: the
  very start; 100%: the last one before the question).
- length: every example is exactly `multiple * context` tokens of the given tokenizer (byte
  tokens by default: characters of ASCII text), question and answer included, tokenized as
  the scorer does (the answer span on its own); the haystack is cut to fit. A BPE cut that
  cannot land exactly is kept at the closest length (`measured` says what it is).

Examples come in cells of (length, depth), `n` each, in order of length then depth.
"""

from __future__ import annotations

import functools
import random
import re
import string
from dataclasses import dataclass

from nlc.tasks.taskfile import Answer, Example, TaskError, check_bounds

DIGITS = string.digits
LETTERS = string.ascii_lowercase

# option -> (type, default, help); `nlc data make niah` offers them as flags, `nlc eval --task
# niah` the first three (its context is the run's)
OPTIONS = {
    "lengths": ("ints", [1, 2, 4, 8, 16], "total lengths, as multiples of the context"),
    "depths": ("ints", [0, 25, 50, 75, 100], "needle depths, percent of the haystack"),
    "needle": ("str", "passkey", "the needle: passkey, number or word"),
    "context": ("int", 256, "the training context in tokens (lengths are multiples of it)"),
}


@dataclass(frozen=True)
class Needle:
    statement: str  # {key} and {value}; followed by a newline in the text
    question: str  # preceded by a newline; the answer follows it directly
    alphabet: str  # what values are made of: chance per answer token is 1 / len


NEEDLES = {
    "passkey": Needle(
        "The pass key is {value}. Remember it.", "What is the pass key? The pass key is ", DIGITS
    ),
    "number": Needle(
        "The special magic number for {key} is {value}.",
        "What is the special magic number for {key}? The special magic number for {key} is ",
        DIGITS,
    ),
    "word": Needle(
        "The special magic word for {key} is {value}.",
        "What is the special magic word for {key}? The special magic word for {key} is ",
        LETTERS,
    ),
}
VALUE_DIGITS = {"passkey": 5, "number": 7}
# keys: ordinary words (a key may occur in the haystack: the value is what is asked)
KEYS = (
    "apple river stone garden window candle mirror forest silver harbor meadow lantern "
    "castle island thunder feather valley orchard compass anchor"
).split()
# word values: modern nouns, none of them in the bundled corpus (checked per passage anyway)
WORDS = (
    "bicycle laptop rocket pizza satellite camera robot helicopter submarine telescope "
    "tornado volcano penguin kangaroo galaxy dinosaur elevator magnet piano violin "
    "trombone banana tomato potato chocolate coffee yogurt algebra oxygen plastic "
    "airplane cinema radio television zipper"
).split()
TAIL = "."  # after the answer: the text ends a sentence (never scored)
SLACK = 1024  # tokens of source beyond the haystack: the line-start snap, the length fixes
SNAP = 256  # characters a passage may skip to start at a line start (<= SLACK tokens)
MIN_HAYSTACK = 16  # tokens: a length must leave at least this much haystack
FIT_TRIES = 8


@dataclass(frozen=True)
class Haystack:
    """Source text for the haystacks and what to call it in a report."""

    name: str
    text: str


def check_options(lengths, depths, needle: str, context: int | None = None) -> None:
    """The options' ranges (the lengths' fit is checked once the tokenizer is known)."""
    if needle not in NEEDLES:
        raise TaskError(f"--needle: expected one of {', '.join(NEEDLES)} (got {needle!r})")
    if not lengths or any(m <= 0 for m in lengths):
        raise TaskError(f"--lengths: expected multiples of the context >= 1 (got {lengths})")
    if not depths or any(not 0 <= d <= 100 for d in depths):
        raise TaskError(f"--depths: expected percentages from 0 to 100 (got {depths})")
    if context is not None and context <= 0:
        raise TaskError(f"--context: expected a positive integer (got {context})")


def size(n: int, lengths=OPTIONS["lengths"][1], depths=OPTIONS["depths"][1], context=256,
         **_) -> int:  # fmt: skip
    """Tokens of the examples `generate` writes with these options, in all."""
    return n * len(depths) * sum(lengths) * context


def needed_tokens(lengths, context: int) -> int:
    """Tokens of source text the longest haystack needs."""
    return max(lengths) * context + SLACK


def clean(text: str) -> str:
    """Source text without digits: no number in a haystack can be taken for the answer."""
    return re.sub(r"[0-9]", "", text)


@functools.lru_cache(maxsize=1)
def _bundled_text() -> str:
    import gzip

    from nlc_runtime.training.data import bundled_corpus

    try:
        return gzip.decompress(bundled_corpus().read_bytes()).decode("utf-8")
    except OSError as err:
        raise TaskError(f"bundled corpus: cannot read: {err}") from None


def bundled_haystack(need: int, tokenizer) -> Haystack:
    """The bundled corpus's last tenth (the held-out tail `nlc train` keeps by default) when
    it holds `need` tokens, else the whole corpus."""
    text = clean(_bundled_text())
    tail = text[int(len(text) * 0.9) :]
    if len(tokenizer.encode(tail)) >= need:
        return Haystack("bundled corpus (held-out tail)", tail)
    return Haystack("bundled corpus", text)


def byte_tokenizer():
    from nlc_runtime.training.tokenizer import ByteTokenizer

    return ByteTokenizer()


def insertion_point(hay: str, depth: int) -> int:
    """The sentence or line start nearest `depth`% of `hay` (the start counts, and the end
    after a newline); where none is within SNAP characters (text without sentences), the
    nearest word start; where there is none either, the exact place."""
    target = round(depth / 100 * len(hay))
    for pattern in (r"\n|[.!?]\s", r"\s"):
        starts = [0, *(m.end() for m in re.finditer(pattern, hay))]
        nearest = min(starts, key=lambda p: (abs(p - target), p))
        if abs(nearest - target) <= SNAP:
            return nearest
    return target


def _value(rng: random.Random, kind: str, avoid: str, key: str) -> str:
    if kind in VALUE_DIGITS:
        return "".join(rng.choice(DIGITS) for _ in range(VALUE_DIGITS[kind]))
    for _ in range(100):
        word = rng.choice(WORDS)
        if word != key and word not in avoid:
            return word
    raise TaskError("--needle word: every candidate word occurs in the haystack")


def overhead(kind: str, tokenizer) -> int:
    """Tokens of an example that are not haystack, at most (the longest key and value)."""
    needle, key = NEEDLES[kind], max(KEYS, key=len)
    value = max(WORDS, key=len) if kind == "word" else "0" * VALUE_DIGITS[kind]
    statement = needle.statement.format(key=key, value=value) + "\n"
    parts = (statement, "\n" + needle.question.format(key=key), value, TAIL)
    return sum(len(tokenizer.encode(p)) for p in parts)


def _count(tokenizer, text: str, start: int, end: int) -> int:
    """Tokens of `text` as the scorer cuts it: before the answer, the answer, after it
    (`nlc_runtime.training.examples.tokenize_spans`' rule)."""
    encode = tokenizer.encode
    return len(encode(text[:start])) + len(encode(text[start:end])) + len(encode(text[end:]))


def _passage(rng: random.Random, source: list[int], tokenizer, size: int) -> str:
    """About `size` tokens of the source from a random offset, from a line start if one is
    near the offset."""
    offset = rng.randrange(len(source) - size + 1)
    text = tokenizer.decode(source[offset : offset + size])
    newline = text.find("\n", 0, SNAP)
    return text[newline + 1 :] if newline >= 0 else text


def _example(rng, kind, length, depth, source, tokenizer):
    needle = NEEDLES[kind]
    key = rng.choice(KEYS)
    passage = _passage(rng, source, tokenizer, length + SLACK)
    value = _value(rng, kind, passage.lower(), key)
    statement = needle.statement.format(key=key, value=value) + "\n"
    question = "\n" + needle.question.format(key=key)
    lead = needle.statement.format(key=key, value="\0").index("\0")
    ids = tokenizer.encode(passage)
    fixed = sum(len(tokenizer.encode(s)) for s in (statement, question, value, TAIL))
    size = length - fixed
    best = None
    for _ in range(FIT_TRIES):
        if size < 0:
            break
        hay = tokenizer.decode(ids[:size])
        at = insertion_point(hay, depth)
        text = hay[:at] + statement + hay[at:] + question + value + TAIL
        start = len(text) - len(TAIL) - len(value)
        tokens = _count(tokenizer, text, start, start + len(value))
        if best is None or abs(tokens - length) < abs(best[-1] - length):
            best = (text, at, start, tokens)
        if tokens == length:
            break
        size += length - tokens
    if best is None:
        raise TaskError(f"--lengths: {length} tokens cannot hold the needle and the question")
    text, at, start, tokens = best
    assert text[start : start + len(value)] == value
    if kind in VALUE_DIGITS:  # the value and the answer are the only digits
        assert sum(c.isdigit() for c in text) == 2 * len(value)
    answer = Answer(start, start + len(value), value, start - (at + lead))
    extra = {"length": length, "depth": depth, "needle": kind, "needle_at": at, "measured": tokens}
    return Example("niah", text, [answer], needle.alphabet, extra)


def generate(
    seed: int,
    n: int,
    lengths=OPTIONS["lengths"][1],
    depths=OPTIONS["depths"][1],
    needle: str = "passkey",
    context: int = 256,
    haystack: Haystack | None = None,
    tokenizer=None,
) -> list[Example]:
    """`n` examples per (length, depth) cell, in order of length then depth; the same seed
    (and source text) gives the same file. `tokenizer`: the run's (bytes by default)."""
    check_options(lengths, depths, needle, context)
    options = {"lengths": lengths, "depths": depths, "context": context}
    check_bounds("niah", n, options, size(n, lengths, depths, context))
    tokenizer = tokenizer or byte_tokenizer()
    need = needed_tokens(lengths, context)
    haystack = haystack or bundled_haystack(need, tokenizer)
    source = tokenizer.encode(clean(haystack.text))
    if len(source) < need:
        raise TaskError(
            f"{haystack.name}: {len(source):,} tokens of text, too few for haystacks of "
            f"{max(lengths)}x the context {context} ({need:,} tokens)"
        )
    shortest, least = min(lengths) * context, overhead(needle, tokenizer) + MIN_HAYSTACK
    if shortest < least:
        raise TaskError(
            f"--lengths: {min(lengths)}x the context is {shortest} tokens, too short for the "
            f"needle, the question and some haystack ({least}); use longer lengths"
        )
    rng = random.Random(seed)
    examples = []
    for multiple in lengths:
        for depth in depths:
            for _ in range(n):
                e = _example(rng, needle, multiple * context, depth, source, tokenizer)
                e.extra.update(multiple=multiple, context=context, haystack=haystack.name)
                examples.append(e)
    return examples
