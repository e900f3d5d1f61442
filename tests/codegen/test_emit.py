"""Emitted code: golden files, determinism, formatting, injection safety, and bad input."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
import yaml

from nlc.cli import main
from nlc.codegen.emit import render
from nlc.pipeline import run_front
from tests.codegen.helpers import load_emitted, render_text
from tests.conftest import ROOT, SPECS

SHIPPED = sorted(p.stem for p in SPECS.glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden" / "emit"


@pytest.mark.parametrize("spec", SHIPPED)
def test_golden_emitted_files(spec, record_golden):
    """model.py and sample.py of every shipped spec; train.py per template branch (below)."""
    files = render(run_front(SPECS / f"{spec}.yaml"), f"{spec}.yaml")
    for name, text in files.items():
        if name == "train.py":
            continue
        path = GOLDEN / spec / name
        if record_golden:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"missing {path}; run pytest --record-golden"
        assert text == path.read_text(), f"{spec}/{name} changed; review, then --record-golden"


def _with_optimizer(spec: str, optimizer: dict) -> str:
    doc = yaml.safe_load((SPECS / spec).read_text())
    doc["optimizer"] = optimizer
    return yaml.safe_dump(doc, sort_keys=False)


# the spec of each branch of train.py.jinja (test_golden_train_py_per_template_branch says why)
TRAIN_BRANCHES = {
    "adamw": lambda: (SPECS / "hope.yaml").read_text(),
    "sgd": lambda: _with_optimizer("transformer.yaml", {"kind": "sgd", "momentum": 0.9}),
    "memory-optimizer": lambda: (SPECS / "optimizers" / "transformer-m3.yaml").read_text(),
}
TRAIN_GOLDEN = ROOT / "tests" / "golden" / "train"
TRAIN_LINES = 150  # the emitted train.py stays one screenful of a loop (issue 29)


def _train_skeleton(text: str) -> str:
    """train.py less what a spec fills in: its name, the plan in the docstring, the values of
    the constants (and the OPTIMIZER mapping, and the components given to AdamW by Muon)."""
    lines = text.splitlines()
    lines[0] = re.sub(r"spec '.*' \(.*\)\.$", "spec NAME (FILE).", lines[0])
    lines[2] = re.sub(r"Train '.*' as", "Train NAME as", lines[2])
    start = lines.index(
        "The loop of train() is the outer level of this nest (`nlc plan` prints it too):"
    )
    end = lines.index('"""', start)
    lines[start + 1 : end] = ["PLAN"]
    text = "\n".join(lines)
    text = re.sub(r"^OPTIMIZER = \{\n(    .*\n)*\}", "OPTIMIZER = ...", text, flags=re.M)
    text = re.sub(r"^([A-Z][A-Z_0-9]*) = .*$", r"\1 = ...", text, flags=re.M)
    return re.sub(r"adamw_components=\(.*?\)\)", "adamw_components=...)", text)


@pytest.mark.parametrize("branch", sorted(TRAIN_BRANCHES))
def test_golden_train_py_per_template_branch(branch, record_golden):
    """One golden train.py per branch of train.py.jinja, not per preset: the template forks on
    the optimizer only (torch.optim.AdamW; torch.optim.SGD; any other rule or a grouped
    optimizer, built by nlc_runtime.optim from an OPTIMIZER mapping). Everything else a spec
    changes is the value of a constant (BATCH_SIZE ... PERSIST, STREAM; TARGETS, the CMS LM
    signal, is `Model.uses_targets`, read at run time) or the plan in the docstring: the next
    test holds every shipped spec's train.py to its branch's golden but for those. AdamW is the
    demo HOPE (its betas / eps schema defaults marked); no shipped preset trains with SGD, so
    the Transformer with SGD stands for it; the memory optimizer is the shipped M3 example
    (specs/optimizers/transformer-m3.yaml)."""
    text = render_text(TRAIN_BRANCHES[branch]())["train.py"]
    path = TRAIN_GOLDEN / f"{branch}.py"
    if record_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing {path}; run pytest --record-golden"
    assert text == path.read_text(), f"train.py ({branch}) changed; review, then --record-golden"
    assert len(text.splitlines()) <= TRAIN_LINES


def test_train_py_of_every_shipped_spec_is_a_branch_golden_but_for_its_constants():
    """A preset's train.py is one of the goldens above with its own name, plan and constants,
    and one screenful at most."""
    skeletons = {_train_skeleton((TRAIN_GOLDEN / f"{b}.py").read_text()): b for b in TRAIN_BRANCHES}
    assert len(skeletons) == len(TRAIN_BRANCHES)  # each branch is a distinct program
    for spec in SHIPPED:
        text = render(run_front(SPECS / f"{spec}.yaml"), f"{spec}.yaml")["train.py"]
        assert len(text.splitlines()) <= TRAIN_LINES, spec
        assert _train_skeleton(text) in skeletons, f"{spec}: train.py is no branch's golden"


def test_train_skeleton_keeps_the_code_and_drops_the_constants():
    """The comparison above would pass vacuously if the skeleton dropped code: an edit to the
    loop is seen, a different constant is not."""
    golden = (TRAIN_GOLDEN / "adamw.py").read_text()
    assert _train_skeleton(golden.replace("BATCH_SIZE = 8", "BATCH_SIZE = 9")) == _train_skeleton(
        golden
    )
    edited = golden.replace("optimizer.zero_grad(set_to_none=True)", "optimizer.zero_grad()")
    assert edited != golden and _train_skeleton(edited) != _train_skeleton(golden)


def test_emitted_code_is_formatted_and_lint_clean(tmp_path):
    for spec in SHIPPED:
        files = render(run_front(SPECS / f"{spec}.yaml"), f"{spec}.yaml")
        for name, text in files.items():
            (tmp_path / f"{spec}_{name}").write_text(text)
    ruff = [sys.executable, "-m", "ruff"]
    opts = ["--line-length", "100", "--isolated"]
    fmt = subprocess.run(
        ruff + ["format", "--check", *opts, str(tmp_path)], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run(
        ruff + ["check", *opts, "--select", "E,F,W,I,B,UP", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_same_spec_same_bytes_across_processes_and_hash_seeds(tmp_path):
    outs = []
    for seed in ("0", "4242"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-m", "nlc", "compile", "specs/hope.yaml", "-o", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    assert set(outs[0]) == {"model.py", "train.py", "sample.py", "spec.yaml"}


def test_header_names_spec_and_version_and_only_torch_and_runtime_are_imported():
    files = render(run_front(SPECS / "titans-mac.yaml"), "titans-mac.yaml")
    model = files["model.py"]
    assert model.startswith("# Generated by nlc 0.1.0 from spec 'titans-mac' (titans-mac.yaml).")
    roots = set()
    for node in ast.walk(ast.parse(model)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "dataclasses", "torch", "nlc_runtime"}
    # each module is commented with its spec node, level and period
    assert (
        "# layers.0.memory (titans_memory): S, M at level 2 (every 32 tokens); W at level 3"
        in model
    )
    assert (
        'h_attn, new_state["attn"] = span(\n            self.attn, state["attn"], t, h_norm1, h_memory'
        in model
    )


HOSTILE = """\
name: hostile
description: "evil\\"\\"\\" + __import__('os').system('echo pwned') # \\nimport os"
model: {vocab_size: 64, d_model: 32, n_heads: 4, context: 16, n_layers: 1}
components:
  - {name: embed, kind: embedding}
  - name: forward
    components:
      - {name: self_, kind: norm}
      - {name: torch, kind: mlp, hidden: 16}
      - {name: print, kind: add, inputs: [in, torch]}
      - {name: state, kind: norm}
      - {name: training, kind: mlp, hidden: 16}
      - {name: new_state, kind: add, inputs: [print, training]}
  - {name: cfg, kind: norm}
  - {name: head, kind: lm_head, tie: embed}
"""


def test_hostile_names_and_strings_cannot_inject_code(tmp_path):
    import torch

    files = render_text(HOSTILE)
    model = files["model.py"]
    tree = ast.parse(model)
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert not any(
        isinstance(f, ast.Name) and f.id in {"__import__", "eval", "exec"} for f in calls
    )
    assert "pwned" not in "".join(
        line for line in model.splitlines() if not line.lstrip().startswith("#")
    )
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    module = load_emitted(tmp_path)
    model_obj = module.Model(module.Config())
    logits, _ = model_obj(torch.randint(0, 64, (2, 8)))
    assert logits.shape == (2, 8, 64)
    assert hasattr(model_obj, "forward_") and callable(model_obj.forward)  # no shadowing


@pytest.mark.parametrize(
    "file_name",
    [
        'x""";__import__("os").system("touch PWNED");"""y.yaml',
        "x\n__import__('os').system('touch PWNED')\n.yaml",
        "x\\\r'''\u2028y.yaml",
    ],
)
def test_a_hostile_spec_file_name_cannot_inject_code(tmp_path, monkeypatch, file_name):
    """The file name is user text: quotes, backslashes and line breaks in it never end the
    emitted docstring or comment; importing the emitted files runs nothing of it."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / file_name
    spec.write_text((SPECS / "transformer.yaml").read_text())
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == 0
    for name in ("model.py", "train.py"):
        tree = ast.parse((tmp_path / "out" / name).read_text())
        calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert not any(isinstance(f, ast.Name) and f.id == "__import__" for f in calls)
    load_emitted(tmp_path / "out")
    assert not (tmp_path / "PWNED").exists()


def test_unprintable_description_stays_a_comment():
    """A NUL or other control character in `description` cannot break the emitted file."""
    text = (SPECS / "transformer.yaml").read_text()
    assert "\ndescription:" in text
    text = text.replace("\ndescription:", '\ndescription: "a\\0b\\x07c\\u2028d" #', 1)
    files = render_text(text)
    for body in files.values():
        assert "\0" not in body and "\x07" not in body and "\u2028" not in body
        ast.parse(body)


def test_unsupported_option_is_a_clear_error(tmp_path, capsys):
    text = (SPECS / "titans-lmm.yaml").read_text().replace("objective: l2", "objective: lm")
    assert "objective: lm" in text
    path = tmp_path / "titans-lm.yaml"
    path.write_text(text)
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "components[1].components[1].update.objective" in err
    assert not (tmp_path / "out" / "model.py").exists()


def test_compile_cli_writes_the_folder(tmp_path, capsys):
    assert main(["compile", str(SPECS / "transformer.yaml"), "-o", str(tmp_path / "t")]) == 0
    names = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert names == ["model.py", "sample.py", "spec.yaml", "train.py"]
    # the spec as written, less the editor modeline whose relative path means nothing there
    source = (SPECS / "transformer.yaml").read_text()
    assert source.startswith("# yaml-language-server:")
    assert (tmp_path / "t" / "spec.yaml").read_text() == source.split("\n", 1)[1]


COLLIDING = """
nlc: 1
name: collide
model: {vocab_size: 64, d_model: 16, n_heads: 2, context: 8, n_layers: 1}
components:
  - {name: embed, kind: embedding}
  - name: model
    components: [{name: train, kind: norm}, {name: train_, kind: norm}]
  - name: Model
    components: [{name: n, kind: norm}]
  - name: config
    components: [{name: n, kind: norm}]
  - name: Config
    components: [{name: n, kind: norm}]
  - name: layers
    components: [{name: n, kind: norm}]
  - name: Layers
    components: [{name: n, kind: norm}]
  - name: a_b
    components: [{name: n, kind: norm}]
  - name: a__b
    components: [{name: CMS, kind: norm}]
  - {name: head, kind: lm_head, tie: embed}
"""


def test_colliding_names_emit_unique_identifiers(tmp_path):
    """Blocks named like the emitted classes (Model, Config), like each other once CamelCased
    (layers / Layers, a_b / a__b), and components whose safe names meet (train / train_):
    every class and attribute is distinct, and the model is the spec's (its parameter count
    is the IR's)."""
    import torch

    from tests.codegen.test_ir_counts import _counts

    files = render_text(COLLIDING)
    tree = ast.parse(files["model.py"])
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert len(classes) == len(set(classes)) and {"Model", "Config"} <= set(classes)
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        attrs = [
            t.attr
            for f in cls.body
            if isinstance(f, ast.FunctionDef) and f.name == "__init__"
            for st in ast.walk(f)
            if isinstance(st, ast.Assign)
            for t in st.targets
            if isinstance(t, ast.Attribute)
        ]
        assert len(attrs) == len(set(attrs)), (cls.name, attrs)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    module = load_emitted(tmp_path)
    logits, _ = module.Model(module.Config())(torch.randint(0, 64, (2, 8)))
    assert logits.shape == (2, 8, 64)
    ir, runtime = _counts(COLLIDING, "collide.yaml")
    assert ir == runtime
