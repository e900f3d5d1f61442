"""The hostile command lines found by hand before the suites existed (each crashed, hung,
wrote where it must not or was silently wrong), judged by the same rules as the generated
ones: exit 0 or one line and exit 2, bounded, no write outside the named outputs, the run
folder unchanged. Most must be refused; `REFUSED` says which."""

from __future__ import annotations

import pytest

from tests.hostile.harness import case_folder, judge
from tests.hostile.runs import spoil
from tests.hostile.values import place
from tests.train.helpers import TINY_TRANSFORMER, write_spec

# (name, spoiler of the run copy, argv with {FIFO}/{DEVICE}/{FILE} placeholders, outputs, refused)
CASES = [
    ("export-into-its-own-ckpt", "none", ["export", "run", "-o", "run/ckpt"], (), True),
    ("export-into-the-run", "none", ["export", "run", "-o", "run"], (), True),
    ("export-edited-spec", "spec-edited", ["export", "run", "-o", "out"], ("out",), True),
    ("export-link-out", "ckpt-link-out", ["export", "run", "-o", "out"], ("out",), True),
    ("export-to-fifo", "none", ["export", "run", "-o", "{FIFO}"], (), True),
    ("eval-through-link", "eval-link-out", ["eval", "run", "--max-tokens", "64"], (), True),
    ("eval-options-not-numbers", "options-bad", ["eval", "run", "--max-tokens", "64"], (), True),
    ("eval-dev-zero", "none", ["eval", "run", "--data", "/dev/zero"], ("run/eval",), True),
    ("eval-fifo", "none", ["eval", "run", "--data", "{FIFO}"], ("run/eval",), True),
    ("data-make-over-device", "none", ["data", "make", "passkey", "--n", "1", "-o", "{DEVICE}"], (), True),
    ("data-make-parent-is-file", "none", ["data", "make", "passkey", "--n", "1", "-o", "{FILE}/x"], (), True),
    ("data-make-huge-n", "none", ["data", "make", "passkey", "--n", "1000000000", "-o", "t.jsonl"], ("t.jsonl",), True),
    ("data-make-huge-prefix", "none", ["data", "make", "passkey", "--n", "1", "--prefix", "1000000000", "-o", "t.jsonl"], ("t.jsonl",), True),
    ("data-make-huge-gaps", "none", ["data", "make", "mqar", "--n", "1", "--gaps", "1000000000", "-o", "t.jsonl"], ("t.jsonl",), True),
    ("data-make-many-distances", "none", ["data", "make", "passkey", "--n", "1", "--distances", ",".join(["1000000"] * 1000), "-o", "t.jsonl"], ("t.jsonl",), True),
    ("generate-billion-tokens", "none", ["generate", "run", "--tokens", "1000000000"], (), True),
    ("generate-zero-tokens", "none", ["generate", "run", "--tokens", "0"], (), True),
    ("generate-negative-tokens", "none", ["generate", "run", "--tokens", "-3"], (), True),
    ("generate-tiny-temperature", "none", ["generate", "run", "--tokens", "4", "--temperature", "1e-45"], (), True),
    ("generate-long-seed", "none", ["generate", "run", "--tokens", "4", "--seed", "9" * 31], (), True),
    ("generate-long-prompt", "none", ["generate", "run", "--tokens", "4", "--prompt", "x" * 100_000], (), False),
    ("generate-undecodable-prompt", "none", ["generate", "run", "--tokens", "4", "--prompt", "\udcff"], (), True),
    ("generate-prompt-outside-tokenizer", "tokenizer-other", ["generate", "run", "--tokens", "4", "--prompt", "xyz"], (), True),
    ("generate-catastrophic-regex", "tokenizer-huge-regex", ["generate", "run", "--tokens", "4"], (), True),
    ("compare-invalid-utf8", "metrics-utf8", ["compare", "run"], ("compare.png",), True),
    ("compare-string-fields", "metrics-strings", ["compare", "run"], ("compare.png",), True),
    ("compare-1e400", "metrics-1e400", ["compare", "run"], ("compare.png",), True),
    ("compare-metrics-folder", "metrics-folder", ["compare", "run"], ("compare.png",), True),
    ("compare-bad-summary", "summary-bad", ["compare", "run"], ("compare.png",), True),
    ("compare-bad-eval", "eval-bad", ["compare", "run"], ("compare.png",), True),
    ("set-deep", None, ["check", "{SPEC}", "--set", "model=" + "[" * 5000], (), True),
    ("set-long-number", None, ["check", "{SPEC}", "--set", "model.vocab_size=" + "9" * 5000], (), True),
    ("set-not-yaml", None, ["check", "{SPEC}", "--set", "model.vocab_size={a: [b"], (), True),
    ("set-huge-lr", None, ["check", "{SPEC}", "--set", "optimizer.lr=1e308"], (), True),
    ("set-path-through-a-list-name", None, ["check", "{SPEC}", "--set", "layers.mlp.name=[1, 2]", "--set", "layers.mlp.hidden=8"], (), True),
    ("set-long-name", None, ["compile", "{SPEC}", "--set", "layers.mlp.name=" + "m" * 64, "--set", "layers.res2.inputs=[res1, " + "m" * 64 + "]", "-o", "out"], ("out",), False),
]  # fmt: skip


# the case's first word -> the command's row in the counts (as the generated suites name it)
COMMANDS = {"export": "export", "eval": "eval", "data": "data make", "generate": "generate",
            "compare": "compare", "set": "check/compile --set"}  # fmt: skip


SLOW_CASES = {"generate-long-prompt"}  # a 100,000-token prompt through the model: `make test`


@pytest.mark.parametrize(
    ("name", "spoiler", "argv", "outputs", "refused"),
    [pytest.param(*c, marks=pytest.mark.slow) if c[0] in SLOW_CASES else c for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_known_hostile_case(trained_run, name, spoiler, argv, outputs, refused):
    with case_folder(trained_run if spoiler else None) as (folder, run):
        if spoiler:
            spoil(spoiler, run)
        spec = write_spec(folder, TINY_TRANSFORMER)
        fill = {"{SPEC}": str(spec), "{FIFO}": place("fifo", folder, "fifo"),
                "{DEVICE}": place("device", folder, "device"), "{FILE}": place("empty", folder, "file")}  # fmt: skip
        argv = [fill.get(a, a.replace("{FILE}", fill["{FILE}"])) for a in argv]
        result = judge(COMMANDS[name.split("-")[0]], argv, folder, outputs=outputs)
        assert (result.code == 2) == refused, (
            f"exit {result.code}: {result.err or result.out[-300:]}"
        )


@pytest.mark.parametrize("command", ["generate", "eval"])
@pytest.mark.parametrize("spoiler", ["code-link-out", "ckpt-link-out"])
def test_a_run_is_never_read_through_a_link_out_of_it(trained_run, command, spoiler):
    """generate and eval import RUN/code/model.py and load RUN/ckpt: a link that leads out
    of the run is refused before anything is imported or loaded."""
    with case_folder(trained_run) as (folder, run):
        spoil(spoiler, run)
        argv = [command, "run"] + (["--tokens", "2"] if command == "generate" else [])
        result = judge(command, argv, folder, outputs=("run/eval",))
        assert result.code == 2 and "a link out of the run folder" in result.err, result.err
