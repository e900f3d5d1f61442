"""A run reads only what it can use and says so in one line: data that is no regular file,
malformed `datasets` metadata, a tokenizer other than the one its checkpoint learned (or one
that makes the Rust library panic), a checkpoint of another shape; a resume after an
interrupted save says which save it resumes from and why."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec

TEXT = "To be, or not to be, that is the question: whether 'tis nobler in the mind. " * 200


@contextlib.contextmanager
def bounded(seconds: float, memory: int = 2 << 30):
    """Fail instead of hanging or eating the machine's memory: a blocked open() of a FIFO, an
    endless read of /dev/zero (a MemoryError past `memory` more bytes of address space)."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds}s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        used = 0
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    if used:
        resource.setrlimit(resource.RLIMIT_AS, (used + memory, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def byte_run(tmp_path_factory):
    """The tiny Transformer, 2 steps, a save after each (a current and a previous pair)."""
    root = tmp_path_factory.mktemp("byte")
    spec = write_spec(root, TINY_TRANSFORMER)
    run = root / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "2", "--eval-every", "1", *FAST]
    assert main(argv) == 0
    return run


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    """The tiny Transformer with a BPE tokenizer trained on a small text."""
    root = tmp_path_factory.mktemp("bpe")
    spec = write_spec(root, TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: 320"))
    (root / "text.txt").write_text(TEXT)
    run = root / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "1", "--tokenizer", "bpe"]
    assert main([*argv, "--data", str(root / "text.txt"), *FAST]) == 0
    return run


def _copy(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


# --- the bounds of the training options -----------------------------------------------------


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--lr", "1e39"),
        ("--grad-clip", "1e-320"),
        ("--batch-size", "100000000"),
        ("--accumulate", "100000000000"),
        ("--eval-iters", "100000000000"),
        ("--seed", "-1"),
        ("--steps", str(10**30)),
        ("--context", str(10**9)),
    ],
)
def test_the_training_flags_have_the_spec_bounds(tmp_path, capsys, flag, value):
    """`nlc train --lr 1e39` crashed like the spec's lr did: the flags share the bounds."""
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    with bounded(30), pytest.raises(SystemExit) as exit_:  # (they trained, or tried to)
        main(["train", str(spec), "--out", str(tmp_path / "run"), flag, value, *FAST])
    assert exit_.value.code == 2
    assert flag in one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


# --- data that is no regular file, malformed datasets metadata ------------------------------


@pytest.mark.parametrize("command", ["eval-dev-zero", "eval-fifo", "train-fifo"])
def test_data_that_is_no_regular_file_is_refused_at_once(byte_run, tmp_path, capsys, command):
    """/dev/zero was read until MemoryError, a FIFO blocked `nlc train` and `nlc eval` for
    good: a device, FIFO or socket is refused before it is opened."""
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    data = "/dev/zero" if command == "eval-dev-zero" else str(fifo)
    if command.startswith("eval"):
        argv = ["eval", str(byte_run), "--data", data]
    else:
        spec = write_spec(tmp_path, TINY_TRANSFORMER)
        argv = ["train", str(spec), "--out", str(tmp_path / "r"), "--data", data, *FAST]
    capsys.readouterr()
    with bounded(30):
        assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert data in line and "not a regular file" in line, line


def _save_to_disk(folder):
    """A `datasets` save_to_disk folder, written with pyarrow as `datasets` writes it."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.ipc

    folder.mkdir()
    table = pa.table({"text": [f"document {i}: " + TEXT[:300] for i in range(20)]})
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
        with pyarrow.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    state = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": None}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {}}))


@pytest.mark.parametrize(
    "shape, file, words",
    [
        ("not-json", "state.json", "not JSON"),
        ("wrong-types", "state.json", "'_data_files' is not a list"),
        ("listed-file-missing", "state.json", "lists data-00000-of-00001.arrow, which is missing"),
        ("data-not-arrow", "data-00000-of-00001.arrow", "Not an Arrow file"),
    ],
)
def test_malformed_datasets_metadata_is_one_line_naming_the_file(
    byte_run, tmp_path, capsys, shape, file, words
):
    """A save_to_disk folder whose state.json is no JSON, holds fields of the wrong types
    (AttributeError: exit 3), lists a file that is missing (a PosixPath repr) or whose data
    file is no Arrow file: one line naming the file."""
    folder = tmp_path / "ds"
    _save_to_disk(folder)
    if shape == "not-json":  # the folder as written reads
        assert main(["eval", str(byte_run), "--data", str(folder), "--max-tokens", "64"]) == 0
    if shape == "not-json":
        (folder / "state.json").write_text("{not json")
    elif shape == "wrong-types":
        (folder / "state.json").write_text(json.dumps({"_data_files": "data.arrow"}))
    elif shape == "listed-file-missing":
        (folder / "data-00000-of-00001.arrow").unlink()
    else:
        (folder / "data-00000-of-00001.arrow").write_text("not arrow\n" * 100)
    capsys.readouterr()
    assert main(["eval", str(byte_run), "--data", str(folder)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(folder / file) in line and words in line and "PosixPath" not in line, line


def test_dataset_metadata_of_other_shapes_is_one_line(tmp_path):
    """DatasetDict listings and _data_files entries of every wrong type: DataError, no crash."""
    from nlc_runtime.training.data import ByteTokenizer, DataError, load_tokens

    folder = tmp_path / "ds"
    _save_to_disk(folder)
    broken = [
        ("state.json", {"_data_files": [{"filename": 3}]}),
        ("state.json", {"_data_files": ["data-00000-of-00001.arrow"]}),
        ("state.json", {"_data_files": {"filename": "x"}}),
        ("state.json", {"_data_files": [{"filename": "../elsewhere.arrow"}]}),
        ("state.json", [1, 2]),
        ("dataset_dict.json", {"splits": [3]}),
        ("dataset_dict.json", {"splits": "train"}),
        ("dataset_dict.json", {"splits": ["train"]}),
    ]
    for name, content in broken:
        (folder / "dataset_dict.json").unlink(missing_ok=True)
        (folder / name).write_text(json.dumps(content))
        with pytest.raises(DataError) as err:
            load_tokens(str(folder), ByteTokenizer(), 256)
        assert str(folder / name) in str(err.value) and "\n" not in str(err.value)


# --- the tokenizer the checkpoint learned ----------------------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "swapped"])
def test_resume_refuses_a_tokenizer_that_is_not_the_checkpoints(bpe_run, tmp_path, capsys, damage):
    """A deleted RUN/tokenizer.json made --resume train a new BPE tokenizer and go on with
    weights that learned another; a swapped one resumed without a word. The checkpoint
    records the tokenizer's SHA-256: resume, eval and generate refuse, naming both files."""
    run = _copy(bpe_run, tmp_path)
    tokenizer = run / "tokenizer.json"
    if damage == "deleted":
        tokenizer.unlink()
    else:
        from tokenizers import Tokenizer

        other = Tokenizer.from_file(str(tokenizer))
        other.add_tokens(["zebra"])  # a valid tokenizer, another one
        other.save(str(tokenizer))
    before = sorted(p.name for p in run.iterdir())
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "2"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(tokenizer) in line and str(run / "ckpt" / "model.safetensors") in line, line
    assert sorted(p.name for p in run.iterdir()) == before  # no tokenizer trained again
    assert main(["eval", str(run), "--max-tokens", "64"]) == 2
    assert str(tokenizer) in one_line(capsys.readouterr().err)


def test_resume_with_the_recorded_tokenizer_goes_on(bpe_run, tmp_path, capsys):
    from nlc_runtime.training.checkpoint import read_metadata
    from nlc_runtime.training.tokenizer import file_sha256

    run = _copy(bpe_run, tmp_path)
    header = read_metadata(run / "ckpt" / "model.safetensors")
    assert header["nlc_tokenizer"] == "sha256:" + file_sha256(run / "tokenizer.json")
    assert main(["train", "--resume", str(run), "--steps", "2", *FAST]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "3", "--tokenizer", "byte"]) == 2
    assert "not the byte tokenizer" in one_line(capsys.readouterr().err)


def test_a_tokenizer_whose_regex_panics_is_one_line(tmp_path, capfd):
    """A pre-tokenizer Split regex that backtracks past Oniguruma's retry limit makes the Rust
    library panic (pyo3's PanicException derives from BaseException: exit 1 and a traceback,
    after Rust's own lines on fd 2). Now one line naming the tokenizer file, and nothing of
    Rust's."""
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "post_processor": None, "decoder": None,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a+)+c"},
                          "behavior": "Isolated", "invert": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3}, "merges": [["a", "b"]]},
    }  # fmt: skip
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tokenizer))
    data = tmp_path / "a.txt"
    data.write_text(("a" * 40 + "\n") * 50)
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    argv = ["train", str(spec), "--out", str(tmp_path / "run"), "--tokenizer", str(path)]
    assert main([*argv, "--data", str(data), "--steps", "1", *FAST]) == 2
    line = one_line(capfd.readouterr().err)
    assert str(path) in line and "retry-limit" in line, line
    assert not (tmp_path / "run" / "ckpt").exists()


# --- checkpoints ---------------------------------------------------------------------------


def test_a_checkpoint_of_another_shape_is_one_line_naming_the_first_mismatch(
    byte_run, tmp_path, capsys
):
    """It was a multi-line torch dump labelled "truncated or corrupt"."""
    run = _copy(byte_run, tmp_path)
    model_py = run / "code" / "model.py"
    model_py.write_text(model_py.read_text().replace("d_model: int = 32", "d_model: int = 48"))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "3"]) == 2
    line = one_line(capsys.readouterr().err)
    weights = run / "ckpt" / "model.safetensors"
    assert line.startswith(f"nlc train: error: {weights}: does not fit this model: "), line
    assert "embed.weight: expected shape [256, 48], found [256, 32]" in line, line
    assert "corrupt" not in line


@pytest.mark.parametrize(
    "interrupted, resumed",
    [
        ("weights-renamed", ("model.prev.safetensors", "train_state.pt", 2)),
        ("both-renamed", ("model.prev.safetensors", "train_state.prev.pt", 2)),
        ("new-weights-written", ("model.prev.safetensors", "train_state.prev.pt", 2)),
    ],
)
def test_an_interrupted_save_resumes_saying_from_which_and_why(
    byte_run, tmp_path, capsys, interrupted, resumed
):
    """kill -9 inside `save_checkpoint` leaves one of these; resuming printed "checkpoint:
    None; resuming from the previous save" (no error had been met, the newest files were
    just missing). Now it names the save it takes and why the newer one is not usable."""
    from nlc_runtime.training.checkpoint import load_checkpoint

    from nlc.train.emitted import load_module

    run = _copy(byte_run, tmp_path)
    ckpt = run / "ckpt"
    if interrupted in ("weights-renamed", "both-renamed"):  # the current pair becomes previous
        os.replace(ckpt / "model.safetensors", ckpt / "model.prev.safetensors")
    if interrupted == "both-renamed":
        os.replace(ckpt / "train_state.pt", ckpt / "train_state.prev.pt")
    if interrupted == "new-weights-written":  # the next save's weights, then killed
        os.replace(ckpt / "train_state.pt", ckpt / "train_state.prev.pt")
        shutil.copy(ckpt / "model.safetensors", ckpt / "model.prev.safetensors")
    module = load_module(run / "code", "model")
    capsys.readouterr()
    state = load_checkpoint(ckpt, module.Model(module.Config()))
    line = one_line(capsys.readouterr().err)
    weights, state_file, step = resumed
    assert state["step"] == step
    assert "None" not in line and "resuming from the previous save" in line, line
    assert f"({weights} and {state_file}, step {step})" in line, line
    missing = "train_state.pt" if interrupted == "new-weights-written" else "model.safetensors"
    assert f"{ckpt}: {missing}" in line and "missing (a save was interrupted)" in line, line
    assert main(["train", "--resume", str(run), "--steps", "3", *FAST]) == 0


def test_a_run_killed_inside_its_first_save_resumes_from_step_0(byte_run, tmp_path, capsys):
    """kill -9 while the first checkpoint was written left model.safetensors without its state:
    --resume refused ("no checkpoint here") and `nlc train SPEC --out RUN` refused the folder
    for holding a checkpoint, so the run could go neither way. Nothing was saved to lose:
    --resume starts it again from step 0, saying so."""
    run = _copy(byte_run, tmp_path)
    for name in ("train_state.pt", "model.prev.safetensors", "train_state.prev.pt"):
        (run / "ckpt" / name).unlink()
    (run / "summary.json").unlink()  # written only after a save: a killed run has none
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "2", *FAST]) == 0
    err = capsys.readouterr().err
    assert "only model.safetensors (the first save was interrupted); starting from step 0" in err
    assert json.loads((run / "summary.json").read_text())["steps"] == 2
