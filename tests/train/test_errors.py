"""Bad input to `nlc train` / `nlc generate`: one clear line on stderr, exit 2, no traceback."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from nlc_runtime.training.data import DataError, load_tokens

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec


def train(tmp_path, *extra) -> int:
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    return main(["train", str(spec), "--out", str(tmp_path / "run"), "--steps", "2", *FAST, *extra])


def make_data(tmp_path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "nope.txt")
    path = tmp_path / "data.txt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "latin1":
        path.write_bytes("Ce fut un été très chaud.\n".encode("latin-1") * 50)
    elif kind == "short":
        path.write_text("To be, or not to be.\n")
    elif kind == "no-match":
        return str(tmp_path / "*.nothing")
    return str(path)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("missing", "no such file"),
        ("empty", "empty"),
        ("latin1", "not UTF-8"),
        ("short", "too short"),
        ("no-match", "no file matches"),
    ],
)
def test_bad_data_is_a_clear_error(tmp_path, capsys, kind, words):
    data = make_data(tmp_path, kind)
    assert train(tmp_path, "--data", data) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_text_folder_jsonl_gzip_and_bin_sources(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("abc")
    (tmp_path / "docs" / "b.md").write_text("de")
    assert load_tokens(str(tmp_path / "docs")).tolist() == list(b"abc\n\nde")
    (tmp_path / "t.jsonl").write_text(json.dumps({"text": "hi"}) + "\n\n" + '{"text": "yo"}\n')
    assert load_tokens(str(tmp_path / "t.jsonl")).tolist() == list(b"hi\n\nyo")
    (tmp_path / "t.txt.gz").write_bytes(gzip.compress("né".encode()))
    assert load_tokens(str(tmp_path / "t.txt.gz")).tolist() == list("né".encode())
    ids = torch.tensor([1, 2, 300, 40000], dtype=torch.int64).to(torch.uint16)
    (tmp_path / "t.bin").write_bytes(ids.numpy().tobytes())
    got = load_tokens(str(tmp_path / "t.bin"), vocab_size=50000)
    assert got.long().tolist() == [1, 2, 300, 40000]
    with pytest.raises(DataError, match="token id 40000"):
        load_tokens(str(tmp_path / "t.bin"), vocab_size=256)
    (tmp_path / "bad.jsonl").write_text('{"txt": 1}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        load_tokens(str(tmp_path / "bad.jsonl"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    spec = write_spec(root, TINY_TRANSFORMER)
    run = root / "run"
    assert main(["train", str(spec), "--out", str(run), "--steps", "2", *FAST]) == 0
    return run


@pytest.mark.parametrize(
    "damage",
    ["truncate-weights", "garbage-weights", "truncate-state", "garbage-state", "delete-state"],
)
def test_corrupt_checkpoint_is_a_clear_error(run, tmp_path, capsys, damage):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    what, name = damage.split("-")
    path = copy / "ckpt" / ("model.safetensors" if name == "weights" else "train_state.pt")
    previous = path.with_name(f"{path.stem}.prev{path.suffix}")
    for p in (path, previous):  # both generations damaged: nothing to fall back on
        if not p.exists():
            continue
        data = p.read_bytes()
        if what == "truncate":
            p.write_bytes(data[: len(data) // 2])
        elif what == "garbage":
            p.write_bytes(b"\x00garbage" * 100)
        else:
            p.unlink()
    assert main(["train", "--resume", str(copy), "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err, err
    assert main(["generate", str(copy), "--tokens", "2"]) == 2


def test_checkpoint_pair_from_two_saves_is_detected(run, tmp_path, capsys):
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(run, a)
    shutil.copytree(run, b)
    assert main(["train", "--resume", str(b), "--steps", "3"]) == 0
    shutil.copy(b / "ckpt" / "train_state.pt", a / "ckpt" / "train_state.pt")
    for stale in (a / "ckpt").glob("*.prev.*"):  # no earlier save to fall back on
        stale.unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(a), "--steps", "4"]) == 2
    assert "different saves" in capsys.readouterr().err


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["generate", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    "option",
    [
        ["--batch-size", "0"],
        ["--accumulate", "0"],
        ["--eval-iters", "0"],
        ["--eval-every", "0"],
        ["--val-fraction", "0"],
        ["--val-fraction", "1"],
        ["--lr", "nan"],
        ["--lr", "-1e-3"],
        ["--device", "bogus"],
        ["--tokenizer", "foo"],
        ["--schedule", "diagonal"],
        ["--bptt-windows", "0"],
        ["--stream-length", "0"],
        ["--stream-length", "-5"],
        ["--loss-on", "everything"],
    ],
)
def test_bad_options_exit_2_before_anything_is_written(tmp_path, capsys, option):
    """`nlc train` parses with the emitted train.py's own table (nlc_runtime.training.flags): a bad
    value is refused by the flag's check, exit 2, and no run folder is created."""
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(spec), "--out", str(tmp_path / "run"), *option])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert option[0] in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_nlc_train_and_the_emitted_script_share_one_flag_table(tmp_path):
    """Every option of the table is an option of both parsers, with the same choices."""
    import argparse

    from nlc_runtime.training.flags import TRAIN_FLAGS

    from nlc.cli import build_parser
    from nlc.codegen.emit import compile_spec
    from nlc.train.emitted import load_module

    compile_spec(write_spec(tmp_path, TINY_TRANSFORMER), tmp_path / "code")
    script = load_module(tmp_path / "code", "train")
    captured = {}

    def parse(self, argv=None, namespace=None):  # the emitted parser, caught before parsing
        captured["parser"] = self
        raise SystemExit(0)

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = parse
    try:
        with pytest.raises(SystemExit):
            script.main([])  # parses first
    finally:
        argparse.ArgumentParser.parse_args = original
    emitted = {a.option_strings[0]: a for a in captured["parser"]._actions if a.option_strings}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    ours = {a.option_strings[0]: a for a in sub.choices["train"]._actions if a.option_strings}
    for flag, _, _ in TRAIN_FLAGS:
        assert emitted[flag].choices == ours[flag].choices and emitted[flag].type is ours[flag].type


@pytest.mark.parametrize(
    "option",
    [["--temperature", "nan"], ["--temperature", "0"], ["--top-k", "-1"], ["--device", "bogus"]]
    + ([] if torch.cuda.is_available() else [["--device", "cuda"]]),
)
def test_bad_sampling_options_exit_2(tmp_path, capsys, option):
    """`nlc generate` checks its options as it parses them: one line, exit 2."""
    with pytest.raises(SystemExit) as exit_:
        main(["generate", str(tmp_path), *option])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert option[0] in err and "Traceback" not in err


@pytest.mark.parametrize("damage", ["flip-weights", "truncate-state", "delete-weights"])
def test_a_damaged_last_checkpoint_resumes_from_the_one_before(run, tmp_path, capsys, damage):
    """Random bytes in the weights' payload (caught by the SHA-256 in the state), a torn state
    or a missing file (a process killed while saving): --resume takes the previous save, says
    so, and goes on."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["train", "--resume", str(copy), "--steps", "3", *FAST]) == 0  # a 2nd save
    ckpt = copy / "ckpt"
    assert (ckpt / "model.prev.safetensors").exists() and (ckpt / "train_state.prev.pt").exists()
    what, name = damage.split("-")
    path = ckpt / ("model.safetensors" if name == "weights" else "train_state.pt")
    data = bytearray(path.read_bytes())
    if what == "flip":
        data[-20:-10] = bytes(255 - b for b in data[-20:-10])  # inside the tensor payload
        path.write_bytes(bytes(data))
    elif what == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        path.unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(copy), "--steps", "4", *FAST]) == 0
    assert "resuming from the previous save" in capsys.readouterr().err


def test_non_finite_weights_are_never_saved(tmp_path):
    from nlc_runtime.training.checkpoint import load_checkpoint, save_checkpoint

    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, model, {"step": 1})
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="not finite"):
        save_checkpoint(tmp_path, model, {"step": 2})
    fresh = torch.nn.Linear(2, 2)
    assert load_checkpoint(tmp_path, fresh)["step"] == 1
    assert torch.isfinite(fresh.weight).all()


def test_a_torn_metrics_line_and_options_file_do_not_stop_a_resume(run, tmp_path, capsys):
    """What a process killed while writing leaves: a last metrics line cut short, an
    options.json that is no JSON. --resume goes on (the torn line dropped, a warning)."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with open(copy / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "lo')
    (copy / "options.json").write_text("{bad json")
    assert main(["train", "--resume", str(copy), "--steps", "3", *FAST]) == 0
    assert "options.json is unreadable" in capsys.readouterr().err
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    assert all(line.startswith("{") and line.endswith("}") for line in lines)
    assert json.loads(lines[-1])["step"] == 3


def test_compile_without_a_cpu_compiler_trains_eagerly(tmp_path, capsys, monkeypatch):
    """On CPU torch.compile builds C++ kernels: with no C++ compiler, `--compile` says so in
    one line and the run trains eagerly (no traceback, no lost run)."""
    import torch._inductor.config as inductor
    from nlc_runtime.exec.compile import cpu_compiler_missing

    assert cpu_compiler_missing() is None  # this machine has one (the compile tests need it)
    monkeypatch.setattr(inductor.cpp, "cxx", ("nlc-test-no-such-compiler",))
    assert "C++ compiler" in cpu_compiler_missing()
    assert train(tmp_path, "--compile") == 0
    out = capsys.readouterr().out
    assert "--compile: No working C++ compiler" in out and "training eagerly" in out, out
    assert (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize(
    "case, words",
    [
        ("short-stream", "--stream-length 8 is shorter than the window"),
        ("blank-documents", "no text"),
        ("no-answers", "answers"),
        ("answers-of-text", "--loss-on answers needs a task file"),
    ],
)
def test_bad_stream_and_task_input_is_one_line(tmp_path, capsys, case, words):
    """A stream shorter than the context, --stream over documents that hold no text, a task
    file with an example without answers, answer-only loss on plain text: one line, exit 2."""
    data = tmp_path / "data.jsonl"
    text = tmp_path / "text.txt"
    text.write_text("To be, or not to be, that is the question. " * 100)
    if case == "short-stream":
        extra = ["--stream", "--stream-length", "8", "--data", str(text)]
    elif case == "blank-documents":
        data.write_text('{"text": "  "}\n{"text": "\\n"}\n')
        extra = ["--stream", "--data", str(data)]
    elif case == "no-answers":
        good = {
            "text": "A=b. A=b.",
            "answers": [{"start": 8, "end": 9, "value": "b", "distance": 5}],
        }
        data.write_text(
            json.dumps(good) + "\n" + json.dumps({"text": "A=b.", "answers": []}) + "\n"
        )
        extra = ["--data", str(data)]
    else:
        extra = ["--loss-on", "answers", "--data", str(text)]
    assert train(tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
