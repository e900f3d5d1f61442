"""Needle in a haystack (`nlc.tasks.niah`, `nlc eval RUN --task niah`): the same seed gives
the same examples, every example is exactly its length in tokens with the needle at the
sentence start nearest its depth in digit-free natural text, a model that copies scores 100%
and one that guesses scores chance, and the CLI writes a table, JSON and a heat map."""

from __future__ import annotations

import json
import re

import pytest

from nlc.cli import main
from nlc.tasks import niah
from nlc.tasks.evaluate import chance
from nlc.tasks.report import make_task_report, niah_cells, render_niah_table
from nlc.tasks.score import score_examples
from nlc.tasks.taskfile import TaskError, read_task_file, write_task_file
from tests.tasks.models import CopyFromFarBack, FakeRun, Guesser
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec

DEPTHS = [0, 25, 50, 75, 100]


def parts(e):
    """The haystack (the text without the needle, before the question), the needle's start
    and the statement."""
    at, (a,) = e.extra["needle_at"], e.answers
    end = e.text.index("\n", a.start - a.distance) + 1  # the statement ends with a newline
    question = e.text.rindex("\nWhat is ")
    return e.text[:at] + e.text[end:question], at, e.text[at:end]


def test_same_seed_same_examples_other_seed_others(tmp_path):
    a = write_task_file(niah.generate(7, 2, [1, 2], [0, 50], context=128), tmp_path / "a.jsonl")
    b = write_task_file(niah.generate(7, 2, [1, 2], [0, 50], context=128), tmp_path / "b.jsonl")
    c = write_task_file(niah.generate(8, 2, [1, 2], [0, 50], context=128), tmp_path / "c.jsonl")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert len(read_task_file(a)) == 2 * 2 * 2


@pytest.mark.parametrize("needle", ["passkey", "number", "word"])
def test_examples_are_their_length_and_the_answer_is_the_needle(needle, tmp_path):
    lengths, context = [1, 3], 160
    path = write_task_file(
        niah.generate(1, 3, lengths, DEPTHS, needle, context), tmp_path / "n.jsonl"
    )
    examples = read_task_file(path)  # reading checks text[start:end] == value
    cells = [(m * context, d) for m in lengths for d in DEPTHS for _ in range(3)]
    assert [(e.extra["length"], e.extra["depth"]) for e in examples] == cells
    for e in examples:
        (a,) = e.answers
        assert len(e.text.encode()) == e.extra["length"] == e.extra["measured"]  # byte tokens
        assert e.text.endswith(a.value + ".") and a.end == len(e.text) - 1
        # the value occurs `distance` characters before the answer, in the needle's statement
        assert e.text[a.start - a.distance : a.end - a.distance] == a.value
        hay, at, statement = parts(e)
        assert a.start - a.distance - at == statement.index(a.value)
        assert e.text[: a.start].endswith(" is ") and e.text.count(a.value) == 2
        if needle == "word":
            assert a.value.isalpha() and a.value not in hay.lower() and e.choices == niah.LETTERS
        else:
            assert len(a.value) == niah.VALUE_DIGITS[needle] and e.choices == "0123456789"
            assert not re.search(r"\d", hay)  # the haystack holds no digit at all
        assert e.extra["haystack"] == "bundled corpus (held-out tail)"


def test_the_needle_is_at_the_sentence_start_nearest_its_depth():
    for e in niah.generate(2, 4, [2, 4], DEPTHS, context=128):
        hay, at, _ = parts(e)
        target = round(e.extra["depth"] / 100 * len(hay))
        starts = {0} | {m.end() for m in re.finditer(r"\n|[.!?]\s", hay)}
        assert at in starts
        # no sentence (or line) start lies between the depth and the needle: within one
        assert not [p for p in starts if min(at, target) < p < max(at, target)]
        assert abs(at - target) < 120
        if e.extra["depth"] == 0:
            assert at == 0
        if e.extra["depth"] == 100:  # at most the last line's start left after it
            assert "\n" not in hay[at:].rstrip("\n")


def test_bpe_lengths_are_in_the_runs_tokens(tmp_path):
    from nlc_runtime.training.tokenizer import BPETokenizer

    tokenizer = BPETokenizer(tmp_path / "tokenizer.json", 400)
    tokenizer.fit(niah._bundled_text()[:60_000])
    examples = niah.generate(0, 2, [2, 4], [0, 50, 100], context=64, tokenizer=tokenizer)
    for e in examples:
        (a,) = e.answers
        pieces = (e.text[: a.start], a.value, e.text[a.end :])  # as the scorer cuts it
        assert sum(len(tokenizer.encode(p)) for p in pieces) == e.extra["length"]
        assert len(e.text) > e.extra["length"]  # BPE: more characters than tokens


def report_of(model, examples, piece=64):
    run = FakeRun(model, context=64)
    scored = score_examples(run, examples, piece=piece, batch_size=4)
    report = make_task_report(scored, {"run": run.run, "context": 64}, chance(examples))
    return {**report, **niah_cells(examples, scored), "source": "-", "examples": len(examples)}


def test_a_model_that_copies_scores_100_percent_in_every_cell():
    examples = niah.generate(3, 2, [2, 5], [0, 50, 100], context=64)
    report = report_of(CopyFromFarBack(), examples)
    assert report["exact"] == 1.0 and report["beyond_context"] == 1.0
    assert [(c["depth"], c["length"]) for c in report["cells"]] == [
        (d, n) for d in [0, 50, 100] for n in [128, 320]
    ]
    assert all(c["exact"] == 1.0 and c["n"] == 2 for c in report["cells"])
    table = render_niah_table(report).splitlines()
    assert table[4].split() == ["depth", "128", "(2x)", "320", "(5x)"]
    assert table[5].split() == ["0%", "100.0%", "100.0%"]


@pytest.mark.parametrize("needle, alphabet", [("passkey", "0123456789"), ("word", niah.LETTERS)])
def test_a_model_that_guesses_scores_chance(needle, alphabet):
    examples = niah.generate(4, 40, [3], [0, 50, 100], needle, context=64)
    report = report_of(Guesser(alphabet), examples)
    assert abs(report["accuracy"] - 1 / len(alphabet)) < 0.04  # 600+ answer tokens
    assert report["exact"] < 0.02
    if needle == "passkey":
        assert all(c["chance"] == pytest.approx(1e-5) for c in report["cells"])


def test_options_out_of_range_are_refused():
    with pytest.raises(TaskError, match="--depths: expected percentages from 0 to 100"):
        niah.generate(0, 1, [1], [101])
    with pytest.raises(TaskError, match="--lengths: expected multiples"):
        niah.generate(0, 1, [0, 1], [0])
    with pytest.raises(TaskError, match="--needle: expected one of passkey, number, word"):
        niah.generate(0, 1, [1], [0], needle="uuid")
    with pytest.raises(TaskError, match="--lengths: 1x the context is 32 tokens, too short"):
        niah.generate(0, 1, [1, 4], [0], context=32)
    with pytest.raises(TaskError, match="too few for haystacks"):
        niah.generate(0, 1, [1], [0], context=128, haystack=niah.Haystack("tiny", "a b. " * 50))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny transformer trained 2 steps on the bundled corpus (context 32)."""
    root = tmp_path_factory.mktemp("niah")
    spec = write_spec(root, TINY_TRANSFORMER)
    out = root / "run"
    assert main(["train", str(spec), "--out", str(out), "--steps", "2", "--eval-every", "100",
                 *FAST]) == 0  # fmt: skip
    return out


def test_eval_niah_writes_the_table_json_and_heat_map(run, tmp_path, capsys):
    argv = ["eval", str(run), "--task", "niah", "--lengths", "4,8", "--depths", "0,50,100"]
    capsys.readouterr()
    assert main([*argv, "--n", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "niah" and report["examples"] == 12 and report["context"] == 32
    assert report["needle"] == "passkey" and report["haystack"] == "bundled corpus (val split)"
    assert report["lengths"] == [128, 256] and report["depths"] == [0, 50, 100]
    assert [(c["depth"], c["length"], c["multiple"], c["n"]) for c in report["cells"]] == [
        (d, n, n // 32, 2) for d in [0, 50, 100] for n in [128, 256]
    ]
    assert all(c["chance"] == pytest.approx(1e-5) and 0 <= c["exact"] <= 1 for c in report["cells"])
    saved = run / "eval" / "task-niah.json"
    assert json.loads(saved.read_text()) == report
    assert (run / "eval" / "task-niah.png").read_bytes()[:4] == b"\x89PNG"
    argv[5] = "6,8"  # a word needle and its question take more room
    assert main([*argv, "--n", "2", "--needle", "word"]) == 0  # the table: depth by length
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"run: {run}  task: niah (generated: seed 0, 2 per cell)")
    assert out[1] == "needle: word  haystack: bundled corpus (val split)"
    assert out[4].split() == ["depth", "192", "(6x)", "256", "(8x)"]
    assert [line.split()[0] for line in out[5:8]] == ["0%", "50%", "100%"]
    assert out[-2] == f"plot: {run / 'eval' / 'task-niah.png'}" and out[-1] == f"saved: {saved}"


def test_a_niah_task_file_from_data_make_is_scored_by_cell(run, tmp_path, capsys):
    task = tmp_path / "niah.jsonl"
    assert main(["data", "make", "niah", "-o", str(task), "--n", "1", "--context", "32",
                 "--lengths", "6,8", "--depths", "0,100", "--needle", "number"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith(f"{task}: 4 niah examples, 4 answers, up to 256")
    assert main(["eval", str(run), "--task", str(task), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["needle"] == "number" and report["lengths"] == [192, 256]
    assert len(report["cells"]) == 4 and (run / "eval" / "task-niah.png").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--task", "niah", "--depths", "0,150"], "--depths: expected percentages from 0 to 100"),
        (["--task", "niah", "--lengths", "0,2"], "--lengths: expected multiples of the context"),
        (["--task", "niah", "--lengths", "4x"], "--lengths: expected comma-separated integers"),
        (["--task", "niah", "--needle", "uuid"], "--needle: expected one of passkey"),
        (["--task", "niah", "--n", "0"], "--n must be a positive integer"),
        (["--task", "niah", "--lengths", "1,4"], "--lengths: 1x the context is 32 tokens"),
        (["--task", "passkey", "--depths", "50"], "--depths applies to --task niah only"),
        (["--depths", "50"], "--depths applies to --task only"),
        (["--task", "{tmp}/t.jsonl", "--seed", "3"], "--seed applies to a generated task"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(run, argv, expected, tmp_path, capsys):
    (tmp_path / "t.jsonl").write_text("")
    capsys.readouterr()
    assert main(["eval", str(run), *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: " in err and expected in err, err


def test_data_make_refuses_bad_niah_options_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "x.jsonl")
    assert main(["data", "make", "niah", "-o", out, "--depths", "-5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--depths: expected percentages" in err
