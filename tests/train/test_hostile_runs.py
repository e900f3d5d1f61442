"""Hostile input to the commands that read a trained run and write beside it (`export`,
`eval`, `generate`, `compare --png`, `data make -o`): one line on stderr and exit 2, never a
traceback, a hang, or a file destroyed or written where it must not be.

- every writer writes regular files only (a FIFO, socket, device or folder as the target is
  refused, as is a target whose parent is a file);
- export never writes inside the run or into a folder holding files it did not write;
  `--force` replaces only its own earlier export, stale files included;
- export ships the spec of the checkpoint header and refuses a run folder edited since;
- export and eval never follow a symbolic link out of the run;
- generate and eval refuse numbers outside their bounds before any work.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import string

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec
from tests.train.hostile import (
    KINDS,
    close_all,
    deadline,
    exit_code,
    make_special,
    one_line,
    snapshot,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    spec = write_spec(root, TINY_TRANSFORMER)
    run = root / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "2", "--eval-every", "100"]
    assert main([*argv, *FAST]) == 0
    return run


@pytest.fixture(scope="module")
def letters_run(tmp_path_factory):
    """The tiny run trained with a tokenizer file that knows only the lowercase letters (the
    checkpoint records it: a run's tokenizer cannot be swapped afterwards)."""
    root = tmp_path_factory.mktemp("hostile-letters")
    spec = write_spec(root, TINY_TRANSFORMER)
    run = root / "run"
    tokenizer = letters_tokenizer(root / "letters.json")
    argv = ["train", str(spec), "--out", str(run), "--steps", "2", "--eval-every", "100"]
    assert main([*argv, "--tokenizer", str(tokenizer), *FAST]) == 0
    return run


def copy(run, where):
    shutil.copytree(run, where)
    return where


def digest(folder) -> dict:
    """Every file of a folder and its hash: what a refused command must leave as it was."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def letters_tokenizer(path):
    """A tokenizer.json that knows the 26 lowercase letters and nothing else."""
    tk = pytest.importorskip("tokenizers")
    vocab = {c: i for i, c in enumerate(string.ascii_lowercase)}
    tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=[])).save(str(path))
    return path


# --- every writer: regular files only --------------------------------------------------------

WRITERS = {
    "data-make": ("nlc data make", lambda run, t: ["data", "make", "passkey", "--n", "1",
                                                   "--distances", "16", "-o", str(t)]),
    "compare-png": ("nlc compare", lambda run, t: ["compare", str(run), "--png", str(t)]),
    "eval-png": ("nlc eval", lambda run, t: ["eval", str(run), "--stream", "--max-tokens",
                                             "20", "--png", str(t)]),
    "eval-result": ("nlc eval", lambda run, t: ["eval", str(run), "--max-tokens", "20"]),
    "export": ("nlc export", lambda run, t: ["export", str(run), "-o", str(t)]),
}  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", WRITERS)
def test_writers_refuse_special_files_folders_and_file_parents(run, tmp_path, capsys, writer,
                                                               kind):  # fmt: skip
    """data make, export, compare --png, eval's plot and RUN/eval/NAME.json: a target that is
    a FIFO, a socket, a device or a folder, or whose parent is a file, is one line and exit 2,
    and is left as it was (today: renamed over, written into, or a FileExistsError)."""
    prog, argv = WRITERS[writer]
    if writer == "eval-result":  # the file eval keeps its result in, in a run of its own
        run = copy(run, tmp_path / "run")
        spot = run / "eval" if kind == "parent-is-a-file" else run / "eval" / "val-first20.json"
    else:
        spot = tmp_path / "target"
    target, keep = make_special(spot, kind)
    before = snapshot(spot)
    capsys.readouterr()
    try:
        with deadline(60):
            code = main(argv(run, target))
    finally:
        close_all(keep)
    assert code == 2
    one_line(capsys, f"{prog}: error: ")
    assert snapshot(spot) == before
    assert not (tmp_path / "target.png").exists()  # nor beside it


# --- export: where it writes ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["ckpt", "run", "inside-code", "link-into-run", "parent"])
def test_export_never_writes_inside_the_run_or_over_files_it_did_not_write(
    run, tmp_path, capsys, where
):
    """`-o RUN/ckpt` overwrote the run's own checkpoint: any folder inside the run (through a
    link too) is refused, and so is a folder holding files export did not write."""
    run = copy(run, tmp_path / "run")
    before = digest(tmp_path)
    out = {
        "ckpt": run / "ckpt",
        "run": run,
        "inside-code": run / "code" / "export",
        "link-into-run": tmp_path / "link",
        "parent": tmp_path,
    }[where]
    if where == "link-into-run":
        out.symlink_to(run / "ckpt")
        before = digest(tmp_path)
    capsys.readouterr()
    assert main(["export", str(run), "-o", str(out)]) == 2
    one_line(capsys, "nlc export: error: ")
    assert digest(tmp_path) == before


def test_export_force_replaces_only_its_own_earlier_export(run, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(["export", str(run), "-o", str(out)]) == 0
    manifest = json.loads((out / ".nlc-export.json").read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in out.iterdir() if p.name[0] != ".")
    capsys.readouterr()
    assert main(["export", str(run), "-o", str(out)]) == 2  # an earlier export: --force
    one_line(capsys, "nlc export: error: ", "--force")
    assert main(["export", str(run), "-o", str(out), "--force"]) == 0

    (out / "notes.txt").write_text("mine")  # a file export did not write: never replaced
    capsys.readouterr()
    assert main(["export", str(run), "-o", str(out), "--force"]) == 2
    one_line(capsys, "nlc export: error: ", "notes.txt")
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()

    with open(out / "model.py", "a") as f:  # a file export wrote, changed since: kept
        f.write("# my change\n")
    edited = (out / "model.py").read_bytes()
    assert main(["export", str(run), "-o", str(out), "--force"]) == 2
    one_line(capsys, "nlc export: error: ", "model.py")
    assert (out / "model.py").read_bytes() == edited


def test_export_over_an_earlier_export_leaves_no_stale_tokenizer(
    run, letters_run, tmp_path, capsys
):
    """An export of a run with a tokenizer, then one of a byte-level run into the same folder:
    the tokenizer.json of the first would make sample.py decode bytes with it."""
    letters = copy(letters_run, tmp_path / "letters")
    out = tmp_path / "export"
    assert main(["export", str(letters), "-o", str(out)]) == 0
    assert (out / "tokenizer.json").exists()
    assert main(["export", str(run), "-o", str(out), "--force"]) == 0
    assert not (out / "tokenizer.json").exists()
    manifest = json.loads((out / ".nlc-export.json").read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in out.iterdir() if p.name[0] != ".")


# --- export: the spec of the weights ----------------------------------------------------------


@pytest.mark.parametrize("edit", ["spec", "config"])
def test_export_ships_the_checkpoint_spec_and_refuses_an_edited_run(run, tmp_path, capsys, edit):
    from nlc_runtime.training.checkpoint import read_metadata

    header = read_metadata(run / "ckpt" / "model.safetensors")
    assert main(["export", str(run), "-o", str(tmp_path / "good")]) == 0
    assert (tmp_path / "good" / "spec.yaml").read_text() == header["nlc_spec"]

    edited = copy(run, tmp_path / "edited")
    if edit == "spec":  # RUN/code/spec.yaml edited after training
        with open(edited / "code" / "spec.yaml", "a") as f:
            f.write("# changed after training\n")
        name = "spec.yaml"
    else:  # model.py's Config: same weight shapes, another model
        model = edited / "code" / "model.py"
        text = model.read_text()
        assert "n_heads: int = 2" in text
        model.write_text(text.replace("n_heads: int = 2", "n_heads: int = 4"))
        name = "model.py"
    capsys.readouterr()
    assert main(["export", str(edited), "-o", str(tmp_path / "out")]) == 2
    one_line(capsys, "nlc export: error: ", name)
    assert not (tmp_path / "out").exists()


# --- export and eval: inside the run ----------------------------------------------------------


@pytest.mark.parametrize("case", ["export-code", "export-tokenizer", "eval-folder", "eval-plot"])
def test_links_out_of_the_run_are_not_followed(run, tmp_path, capsys, case):
    """A symbolic link in the run folder to a file or folder outside it: export does not copy
    from it, eval does not write through it."""
    copied = copy(run, tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    if case == "export-code":
        (outside / "secret.py").write_text("SECRET = 1\n")
        (copied / "code" / "sample.py").unlink()
        (copied / "code" / "sample.py").symlink_to(outside / "secret.py")
        argv = ["export", str(copied), "-o", str(tmp_path / "out")]
    elif case == "export-tokenizer":
        letters_tokenizer(outside / "tokenizer.json")
        (copied / "tokenizer.json").symlink_to(outside / "tokenizer.json")
        argv = ["export", str(copied), "-o", str(tmp_path / "out")]
    elif case == "eval-folder":
        shutil.rmtree(copied / "eval", ignore_errors=True)
        (copied / "eval").symlink_to(outside)
        argv = ["eval", str(copied), "--max-tokens", "20"]
    else:
        (outside / "plot.png").write_bytes(b"\x89PNG not really")
        (copied / "stream.png").symlink_to(outside / "plot.png")
        argv = ["eval", str(copied), "--stream", "--max-tokens", "20"]
    before = digest(outside)
    capsys.readouterr()
    assert main(argv) == 2
    one_line(capsys, f"nlc {argv[0]}: error: ", "run")
    assert digest(outside) == before
    assert not (tmp_path / "out").exists()


# --- generate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ["--tokens", "0"],
        ["--tokens", "-3"],
        ["--tokens", "1000000000"],
        ["--temperature", "1e-45"],
        ["--temperature", "1e9"],
        ["--seed", "1" * 31],
        ["--seed", "-1"],
        ["--prompt", "\udcff"],  # the bytes b"\xff" as argv decodes them (surrogateescape)
    ],
    ids=[
        "tokens-0",
        "tokens-negative",
        "tokens-1e9",
        "temperature-1e-45",
        "temperature-1e9",
        "seed-31-digits",
        "seed-negative",
        "prompt-not-utf8",
    ],  # fmt: skip
)
def test_generate_refuses_options_outside_their_bounds(run, capsys, option):
    capsys.readouterr()
    with deadline(30):
        assert exit_code(["generate", str(run), "--tokens", "2", *option]) == 2
    one_line(capsys, "nlc generate: error: ", option[0])


def test_generate_feeds_a_long_prompt_in_pieces_and_bounds_it(run, capsys, monkeypatch):
    """A prompt of many contexts goes through the model a context at a time (one call over
    100k characters asked for 80 GB); one over the documented bound is refused."""
    from nlc import limits
    from nlc.train import runfolder

    widths = []
    load_run = runfolder.load_run

    def watched(*args, **kwargs):
        loaded = load_run(*args, **kwargs)
        loaded.model.register_forward_pre_hook(lambda m, a: widths.append(a[0].shape[1]))
        return loaded

    monkeypatch.setattr(runfolder, "load_run", watched)
    prompt = "to be or not to be. " * 16  # 320 characters, 10 contexts of 32
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", prompt, "--tokens", "3"]) == 0
    assert capsys.readouterr().out.startswith(prompt)
    assert widths and max(widths) <= 32, widths

    monkeypatch.setattr(limits, "MAX_PROMPT_CHARS", 100)
    assert main(["generate", str(run), "--prompt", "x" * 101, "--tokens", "3"]) == 2
    one_line(capsys, "nlc generate: error: ", "--prompt", "100")


@pytest.mark.parametrize("prompt", ["ABC!", "\n"])
def test_generate_refuses_a_prompt_the_tokenizer_cannot_encode(letters_run, capsys, prompt):
    letters = letters_run  # generate must not change it
    capsys.readouterr()
    assert main(["generate", str(letters), "--prompt", prompt, "--tokens", "2"]) == 2
    one_line(capsys, "nlc generate: error: ", "--prompt")


# --- eval -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ["--stream", "--max-tokens", "50", "--piece", "1" + "0" * 23],
        ["--max-tokens", "50", "--batch-size", "1" + "0" * 23],
        ["--max-tokens", "1" + "0" * 30],
        ["--task", "passkey", "--n", "1000000000"],
        ["--task", "niah", "--n", "1000", "--lengths", "1000"],
    ],
    ids=["piece", "batch-size", "max-tokens", "task-n", "niah-size"],
)
def test_eval_refuses_numbers_outside_their_bounds(run, tmp_path, capsys, option):
    copied = copy(run, tmp_path / "run")
    before = digest(copied)
    capsys.readouterr()
    with deadline(30):
        assert exit_code(["eval", str(copied), *option]) == 2
    one_line(capsys, "nlc eval: error: ", "--")
    assert digest(copied) == before


@pytest.mark.parametrize("command", ["export", "compare", "generate", "eval", "data-make"])
def test_a_path_the_system_refuses_is_one_line(run, tmp_path, capsys, command):
    """A name longer than the file system allows (ENAMETOOLONG): one line, exit 2."""
    long = str(tmp_path / ("n" * 300))
    argv = {
        "export": ["export", str(run), "-o", long],
        "compare": ["compare", long, "--png", str(tmp_path / "c.png")],
        "generate": ["generate", long, "--tokens", "2"],
        "eval": ["eval", long, "--max-tokens", "20"],
        "data-make": ["data", "make", "passkey", "--n", "1", "-o", long],
    }[command]
    capsys.readouterr()
    assert main(argv) == 2
    one_line(capsys, f"nlc {command.replace('-', ' ')}: error: ", "nnnn")
