"""Hostile command lines and spoiled run folders through the commands that read a run:
`nlc export`, `nlc eval`, `nlc compare`, `nlc generate`. Each ends in exit 0 or one line and
exit 2, within bounds, writes only its named outputs, and leaves the run as it was."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.harness import HOSTILE, case_folder, judge
from tests.hostile.runs import SPOILERS, spoil
from tests.hostile.values import FILE_KINDS, lists, numbers, place, texts

RUN_KINDS = st.sampled_from(["none", "none", *sorted(SPOILERS)])
OUT_KINDS = [k for k in FILE_KINDS if k != "dev-zero"]  # never a real device as an output


def _output(draw, folder, name: str, folder_ok: bool = False) -> tuple[str, tuple[str, ...]]:
    """A hostile output path and the outputs the command may then write (`folder_ok`: the
    command writes a folder (export), so an existing empty one is a fine target, and none
    inside the run is; a file the user names inside the run (a plot) may be written)."""
    kind = draw(st.sampled_from(["plain", "plain", "inside-run", *OUT_KINDS]))
    if kind == "plain":
        return name, (name,)
    if kind == "inside-run":
        inside = draw(st.sampled_from(["run", "run/ckpt", "run/code", "run/eval", "run/new"]))
        return inside, () if folder_ok or inside != "run/new" else (inside,)
    path = place(kind, folder, name)
    rel = path.removeprefix(f"{folder}/")
    refused = ("fifo", "device") if folder_ok else ("fifo", "device", "folder")
    return path, () if kind in refused else (rel,)


@HOSTILE
@given(data=st.data(), spoiled=RUN_KINDS)
def test_hostile_export(trained_run, data, spoiled):
    with case_folder(trained_run) as (folder, run):
        spoil(spoiled, run)
        out, outputs = _output(data.draw, folder, "export", folder_ok=True)
        force = data.draw(st.sampled_from([[], [], ["--force"]]))
        judge("export", ["export", "run", "-o", out, *force], folder, outputs=outputs)


EVAL_OPTIONS = {
    "--data": None, "--split": st.sampled_from(["val", "all", "x"]),
    "--task": st.sampled_from(["passkey", "mqar", "niah", "nope", ""]), "--n": numbers(),
    "--seed": numbers(), "--lengths": lists(), "--depths": lists(),
    "--needle": texts() | st.sampled_from(["passkey", "number", "word"]), "--piece": numbers(),
    "--batch-size": numbers(), "--max-tokens": numbers(), "--device": texts(),
    "--dtype": st.sampled_from(["float32", "float64", "half"]),
}  # fmt: skip


@HOSTILE
@given(data=st.data(), spoiled=RUN_KINDS)
def test_hostile_eval(trained_run, data, spoiled):
    with case_folder(trained_run) as (folder, run):
        spoil(spoiled, run)
        argv = ["eval", "run", "--max-tokens", "300"]  # small unless drawn larger
        outputs = ["run/eval", "run/stream.png"]
        flags = data.draw(st.lists(st.sampled_from(sorted(EVAL_OPTIONS)), max_size=4, unique=True))
        if "--task" in flags and "--n" not in flags:
            argv += ["--n", "1"]
        for flag in flags:
            if flag == "--data":
                kind = data.draw(st.sampled_from(["plain", *FILE_KINDS]))
                argv += [flag, "text.txt" if kind == "plain" else place(kind, folder, "data.txt")]
                if kind == "plain":
                    (folder / "text.txt").write_text("to be or not to be " * 40)
            else:
                argv += [flag, data.draw(EVAL_OPTIONS[flag])]
        for flag in data.draw(st.lists(st.sampled_from(["--stream", "--json"]), unique=True)):
            argv.append(flag)
        if data.draw(st.booleans()):
            png, png_outputs = _output(data.draw, folder, "plot.png")
            argv += ["--png", png]
            outputs += png_outputs
        judge("eval", argv, folder, outputs=tuple(outputs))


@HOSTILE
@given(data=st.data(), spoiled=RUN_KINDS, second=st.booleans())
def test_hostile_compare(trained_run, data, spoiled, second):
    with case_folder(trained_run) as (folder, run):
        spoil(spoiled, run)
        argv = ["compare", "run"] + (["run"] if second else [])
        outputs: tuple[str, ...] = ("compare.png",)
        if data.draw(st.booleans()):
            png, outputs = _output(data.draw, folder, "plot.png")
            argv += ["--png", png]
            outputs += tuple(o + ".png" for o in outputs)
        if data.draw(st.booleans()):
            argv.append("--json")
        judge("compare", argv, folder, outputs=outputs)


GENERATE_OPTIONS = {
    "--prompt": texts(), "--tokens": st.sampled_from(["1", "5", "50"]) | numbers(),
    "--temperature": numbers(), "--top-k": numbers(), "--seed": numbers(), "--device": texts(),
}  # fmt: skip


@HOSTILE
@given(data=st.data(), spoiled=RUN_KINDS)
def test_hostile_generate(trained_run, data, spoiled):
    with case_folder(trained_run) as (folder, run):
        spoil(spoiled, run)
        argv = ["generate", "run", "--tokens", "5"]
        for flag in data.draw(
            st.lists(st.sampled_from(sorted(GENERATE_OPTIONS)), max_size=4, unique=True)
        ):
            argv += [flag, data.draw(GENERATE_OPTIONS[flag])]
        judge("generate", argv, folder)
