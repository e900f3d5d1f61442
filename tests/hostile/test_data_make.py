"""Hostile `nlc data make`: every size option bounded before any work, and the task file
written as a regular file through a temporary file, never over a special file or a folder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.harness import HOSTILE, case_folder, judge
from tests.hostile.values import FILE_KINDS, lists, numbers, place, texts

# never /dev/zero as an output: a writer that renames over a special file would replace it
OUT_KINDS = [k for k in FILE_KINDS if k != "dev-zero"]
SMALL = ["1", "2", "3"]  # so that most cases get past --n and do the work
OPTIONS = {
    "--seed": numbers(), "--n": st.sampled_from(SMALL) | numbers(), "--distances": lists(),
    "--digits": numbers(), "--key-length": numbers(), "--prefix": numbers(),
    "--vocab": numbers(), "--seq-len": numbers(), "--pairs": numbers(), "--queries": numbers(),
    "--alpha": numbers(), "--gaps": lists(), "--lengths": lists(), "--depths": lists(),
    "--needle": texts() | st.sampled_from(["passkey", "number", "word"]),
    "--context": numbers(),
}  # fmt: skip


@st.composite
def data_make_args(draw) -> tuple[list[str], str]:
    task = draw(st.sampled_from(["passkey", "mqar", "niah", "nope", ""]))
    out = draw(st.sampled_from(["plain", "plain", *OUT_KINDS]))
    argv = [task]
    for flag in draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=4, unique=True)):
        argv += [flag, draw(OPTIONS[flag])]
    if "--n" not in argv:
        argv += ["--n", "2"]
    return argv, out


@HOSTILE
@given(case=data_make_args())
def test_hostile_data_make_is_bounded_and_writes_only_its_file(case):
    argv, out_kind = case
    with case_folder() as (folder, _):
        out = "task.jsonl" if out_kind == "plain" else place(out_kind, folder, "task.jsonl")
        rel = str(out).removeprefix(f"{folder}/")
        special = out_kind in ("fifo", "device", "folder")
        result = judge("data make", ["data", "make", *argv, "-o", out], folder,
                       outputs=() if special else (rel,))  # fmt: skip
        if out_kind == "link-out":  # the link may be replaced, never written through
            outside = folder.parent / f"outside-{folder.name}"
            assert outside.read_text() == "outside the folder\n", "wrote through a link"
        if result.code == 0:
            assert (folder / rel).is_file()
