"""Hostile `--set PATH=VALUE` overrides through `nlc check` and `nlc compile`: the same reader,
limits and one-line messages as a spec file; what check accepts, compile compiles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.harness import HOSTILE, case_folder, judge
from tests.hostile.values import NUMBERS
from tests.train.helpers import TINY_TRANSFORMER, write_spec

PATHS = [
    "model.vocab_size", "model.d_model", "model.context", "model.n_heads", "optimizer.lr",
    "optimizer.weight_decay", "optimizer.betas", "train.steps", "train.batch_size",
    "train.warmup", "model", "components", "name", "nlc", "layers.attn.window",
    "layers.attn.name", "layers.mlp.name", "layers.mlp.hidden", "x.y.z", "", ".", "model..x",
    "layers.9.attn", "components.0.kind",
]  # fmt: skip

VALUES = [
    *NUMBERS,
    "[" * 5000, "{a: " * 3000, "9" * 5000, "-" + "9" * 400, "'unterminated", "{a: [b",
    "!!python/object/apply:os.system ['true']", "&a [*a, *a]", "[&a [1,2], *a, *a, *a]",
    "a" * 70, "attn", "[0.9, 0.95]", "[1, 2, 3]", "null", "~", "true", "{}", "[]",
    "outer", "frozen", "- x\n- y", "key: value", "\udcff", "x" * 100_000,
]  # fmt: skip


@st.composite
def overrides(draw) -> list[str]:
    pairs = draw(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(VALUES)), max_size=3))
    argv = []
    for path, value in pairs:
        argv += ["--set", f"{path}={value}"]
    if draw(st.booleans()):
        argv += ["--set", draw(st.sampled_from(["novalue", "=1", "a=", "==", ""]))]
    return argv


@HOSTILE
@given(command=st.sampled_from(["check", "compile"]), sets=overrides())
def test_hostile_set_values_are_refused_in_one_line_or_compile(command, sets):
    with case_folder() as (folder, _):
        spec = write_spec(folder, TINY_TRANSFORMER)
        argv = [command, str(spec), *sets] + (["-o", "out"] if command == "compile" else [])
        result = judge("check/compile --set", argv, folder, outputs=("out",))
        if command == "check" and result.code == 0:  # check == compile
            judge("check/compile --set", ["compile", str(spec), *sets, "-o", "out"], folder,
                  outputs=("out",))  # fmt: skip
            assert (folder / "out" / "model.py").is_file()
