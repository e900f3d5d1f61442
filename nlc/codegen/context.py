"""Render contexts: every decision about the emitted code, made in Python.

`build_context(graph, plan)` walks the spec's components (blocks become `nn.Module` classes
repeated in an `nn.ModuleList`), resolves each component's inputs to local variable names,
orders the statements by dataflow, and annotates every module with its spec node, level and
period. The statements compute one *segment* of tokens (`Model.step`); the loop nest around
it (`Model.forward`: segments cut at every boundary, the updates that fire after each, faster
levels first, the LM signal's pieces) and the end of a sequence (`Model.finish`) are the
plan's (`plan_schedule.plan_nest` over the stateful components met here), rendered by
`nlc.codegen.nest`. The templates only lay the code out.
"""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field, replace

from nlc import __version__
from nlc.codegen import render
from nlc.codegen.namespace import Names
from nlc.codegen.nest import render_nest, stateful
from nlc.errors import Diagnostic, SpecError, format_path
from nlc.ir.dim import Dim, symbolic
from nlc.ir.graph import Graph
from nlc.ir.plan import Plan, Stateful
from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import CodegenError, py
from nlc.passes.plan_schedule import plan_nest, wave_piece_name
from nlc.report import fold_names
from nlc.spec.schema import Block

WIDTH = 100


def comment(text: str, indent: int) -> list[str]:
    """A '#' comment wrapped to the line length; spec text cannot escape the comment (line
    breaks of any kind and other unprintable characters, NUL included, become spaces)."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    room = WIDTH - indent - 2
    return ["# " + line for line in textwrap.wrap(text, room)] or ["#"]


def _outside_strings(text: str):
    """(index, character, bracket depth after it) for every character of `text` outside its
    string literals: the one scan that split_args and _is_call share."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
            continue
        if ch in "\"'":
            quote = ch
            continue
        depth += (ch in "([{") - (ch in ")]}")
        yield i, ch, depth


def split_args(args: str) -> list[str]:
    """Split a call's argument text at its top-level commas (brackets and strings respected)."""
    parts, start = [], 0
    for i, ch, depth in _outside_strings(args):
        if ch == "," and depth == 0:
            parts.append(args[start:i].strip())
            start = i + 1
    parts.append(args[start:].strip())
    return [p for p in parts if p]


def _is_call(text: str) -> bool:
    """`text` is one call, `name.attr(...)`, whose first '(' closes at its last character
    (not `h_a + h_b`, not `f(a) * g(b)`): its arguments can go on lines of their own."""
    if not re.match(r"[A-Za-z_][\w.]*\(", text) or not text.endswith(")"):
        return False
    for i, ch, depth in _outside_strings(text):
        if ch in ")]}" and depth == 0:
            return i == len(text) - 1
    return False


def assignment_lines(target: str, call: str, indent: int) -> list[str]:
    """`target = call` as ruff would format it: one line when it fits, else one argument per
    line with a trailing comma (which keeps ruff from joining them again)."""
    line = f"{target} = {call}"
    if indent + len(line) <= WIDTH:
        return [line]
    if not _is_call(call):  # an expression (long names): parenthesized, on a line of its own
        return [f"{target} = (", f"    {call}", ")"]
    head, args = call.split("(", 1)
    lines = [f"{target} = {head}("]
    lines += [f"    {arg}," for arg in split_args(args[:-1])]
    return lines + [")"]


def call_lines(target: str, call: str, note: str) -> list[str]:
    """`target = call  # note` in a method body (indent 8), as ruff formats a long one: the
    arguments on their own line, the comment after the closing parenthesis."""
    line = f"{target} = {call}  # {note}"
    if 8 + len(line) <= WIDTH:
        return [line]
    if not _is_call(call):  # `h_a + h_b` of long names: parenthesized, as ruff does
        return [f"{target} = (", f"    {call}", f")  # {note}"]
    head, args = call.split("(", 1)
    return [f"{target} = {head}(", f"    {args[:-1]}", f")  # {note}"]


@dataclass
class ModuleDecl:
    attr: str
    ctor: str
    comment: list[str]
    frozen: bool

    @property
    def lines(self) -> list[str]:
        return assignment_lines(f"self.{self.attr}", self.ctor, 8)


@dataclass
class Scope:
    """One `nn.Module` class: the model itself or a block."""

    class_name: str
    doc: str
    input_name: str  # 'idx' for the model, 'x' for a block
    modules: list[ModuleDecl] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    output: str = ""
    stateful: bool = False
    clocked: bool = False  # its forward takes `t`, the position of its first token
    persist: list[str] = field(default_factory=list)  # components whose state persists
    state_blocks: list[tuple[str, str]] = field(default_factory=list)  # (state key, attribute)
    init: list[tuple[str, str]] = field(default_factory=list)  # (state key, initial expr)
    learn: list[str] = field(default_factory=list)  # LM signal: `learn` of its CMS, in order
    periods: set[int] = field(default_factory=set)  # in-context periods of its components
    shaped: set[int] = field(default_factory=set)  # those of groups with `Group.shaped`
    # its repeats may run as a wavefront (`nlc_runtime.exec.wavefront`): every state is clocked (no
    # growing attention cache), no LM signal, no nested block
    wave_ok: bool = True
    attrs: dict[str, str] = field(default_factory=dict)  # spec name -> unique attribute

    @property
    def persist_line(self) -> str:
        names = [py(n) for n in self.persist]
        inner = names[0] + "," if len(names) == 1 else ", ".join(names)
        return f"persist = ({inner})"

    @property
    def blocks_line(self) -> str:
        inner = ", ".join(f"{py(k)}: {py(a)}" for k, a in self.state_blocks)
        return f"state_blocks = {{{inner}}}"

    @property
    def signature(self) -> str:
        """The arguments of the segment forward after `self`."""
        pos = ", t: int | None" if self.clocked else ""
        return f"{self.input_name}: torch.Tensor, state: dict{pos}"

    def init_lines(self, indent: int) -> list[str]:
        """The body of `init_state(batch)`: the dict of every state this scope holds."""
        items = [f"{py(key)}: {expr}" for key, expr in self.init]
        one = "return {" + ", ".join(items) + "}"
        if indent + len(one) <= WIDTH:
            return [one]
        return ["return {"] + [f"    {item}," for item in items] + ["}"]


class _Builder:
    def __init__(self, graph: Graph):
        self.imports: set[str] = set()
        self.graph = graph
        self.scopes: list[Scope] = []
        self.repeat_fields: list[tuple[str, int, str]] = []
        self.level_of = {s: lv for lv in graph.levels or () for s in lv.states}
        self.streaming: list[Stateful] = []  # every stateful component, for the loop nest
        self.waves: list[str] = []  # repeated blocks that may run as a wavefront
        self.names = Names()
        self.settings = symbolic(graph.model)  # sizes as expressions of the Config

    def error(self, loc: tuple, message: str) -> SpecError:
        src = self.graph.source
        return SpecError(
            Diagnostic(
                self.graph.file, src.line_of(loc) if src else None, format_path(loc), message
            )
        )

    # --- annotations --------------------------------------------------------------------------
    def states_comment(self, full_name: str) -> str:
        groups: dict[tuple, list[str]] = defaultdict(list)
        for s in self.graph.states():
            if s.component == full_name:
                lv = self.level_of[s.name]
                groups[(lv.number, str(lv.period))].append(s.name[len(full_name) + 1 :])
        parts = []
        for (number, period), names in sorted(groups.items()):
            when = {"outer": "outer", "frozen": "frozen", "1": "every token"}.get(
                period, f"every {period} tokens"
            )
            parts.append(f"{', '.join(names)} at level {number} ({when})")
        return "; ".join(parts) if parts else "no state"

    def width(self, full_name: str) -> str:
        """The output shape comment, its width as the Config names it (`(B, n, d_model)`)."""
        w = (self.graph.widths or {}).get(full_name)
        if w is None:
            return "(B, n)"
        return f"(B, n, {w.text if isinstance(w, Dim) else w})"

    # --- scopes -------------------------------------------------------------------------------
    def scope(
        self,
        entries: list,
        loc: tuple,
        prefix: str,
        cls: str,
        doc: str,
        is_model: bool,
        hops: tuple = (),
        shown: str = "",
    ) -> Scope:
        """One class; `hops`: the (attribute, state key, repeats) of the repeated blocks around
        it; `shown`: its dotted prefix with layer indices folded (`layers.{0..1}.`)."""
        scope = Scope(cls, doc, "idx" if is_model else "x")
        self.scopes.append(scope)
        local = {e.name: f"h_{e.name}" for e in entries}
        refs: dict[str, list[str]] = {}
        previous = scope.input_name
        for e in entries:
            names = e.inputs or None
            if names is None:
                refs[e.name] = [previous]
            else:
                refs[e.name] = [scope.input_name if n == "in" else local[n] for n in names]
            previous = local[e.name]
        # statements in dataflow order (stable: declaration order among ready ones)
        deps = {e.name: [r[2:] for r in refs[e.name] if r.startswith("h_")] for e in entries}
        position = {e.name: i for i, e in enumerate(entries)}
        order = _stable_topo(deps, [e.name for e in entries])
        by_name = {e.name: e for e in entries}
        top_attrs = self.names.attributes([e.name for e in entries])
        scope.attrs = top_attrs
        for name in order:
            e = by_name[name]
            i = position[name]
            if isinstance(e, Block):
                self.block(e, loc + (i,), prefix, scope, refs[name][0], hops, shown)
            else:
                self.component(
                    e,
                    loc + (i,),
                    prefix,
                    scope,
                    refs[name],
                    top_attrs if is_model else {},
                    hops,
                    shown,
                )
        scope.output = local[entries[-1].name]
        return scope

    def block(
        self,
        b: Block,
        loc: tuple,
        prefix: str,
        parent: Scope,
        source: str,
        hops: tuple,
        shown: str,
    ) -> None:
        repeat = b.repeat or self.graph.model.n_layers
        cls = self.names.block_class(b.name)
        # a block without its own `repeat` repeats model.n_layers times, as in the spec
        field_name = "n_layers" if b.repeat is None else f"repeat_{b.name}"
        if field_name not in {f for f, _, _ in self.repeat_fields}:
            self.repeat_fields.append((field_name, repeat, b.name))
        inner_prefix = f"{prefix}{b.name}.0."
        path = prefix + b.name
        doc = (
            f"Block '{path}', repeated cfg.{field_name} times (the spec: {repeat}, "
            f"{path}.0 ... {path}.{repeat - 1})."
        )
        attr = parent.attrs[b.name]
        index = "0" if repeat == 1 else f"{{0..{repeat - 1}}}"
        inner = self.scope(
            b.components,
            loc + ("components",),
            inner_prefix,
            cls,
            doc,
            is_model=False,
            hops=hops + ((attr, b.name, repeat),),
            shown=f"{shown}{b.name}.{index}.",
        )
        ctor = f"nn.ModuleList([{cls}(cfg) for _ in range(cfg.{field_name})])"
        key = py(b.name)
        parent.modules.append(ModuleDecl(attr, ctor, comment(doc, 8), False))
        parent.stateful = parent.stateful or inner.stateful
        parent.clocked = parent.clocked or inner.clocked
        parent.periods |= inner.periods
        parent.wave_ok = False  # a block inside: the wavefront runs flat blocks only
        parent.state_blocks.append((b.name, attr))
        parent.init.append((b.name, f"[block.init_state(batch) for block in self.{attr}]"))
        if inner.learn:
            target = "state" if parent.input_name == "idx" else "new_state"
            parent.learn += [
                f"pairs = zip(self.{attr}, state[{key}], strict=True)",
                f"{target}[{key}] = [block.learn(s, teach) for block, s in pairs]",
            ]
        out = f"h_{b.name}"
        parent.body += comment(f"{prefix}{b.name}: cfg.{field_name} x {cls}", 8)
        pos = ", t" if inner.clocked else ""
        s = f"state[{key}][i]"
        if parent.input_name == "idx":  # a top-level block: activation checkpointing applies
            self.imports.add("from nlc_runtime.exec.recompute import call_block")
            call = f"call_block(block, {out}, {s}, self.cfg.recompute{pos})"
        else:
            call = f"block({out}, {s}{pos})"
        loop = [
            f"{attr}_state = []",
            f"for i, block in enumerate(self.{attr}):",
            f"    {out}, s = {call}",
            f"    {attr}_state.append(s)",
            f"new_state[{key}] = {attr}_state",
        ]
        parent.body.append(f"{out} = {source}")
        if parent.input_name == "idx" and repeat > 1 and inner.wave_ok and inner.periods:
            self.waves.append(attr)  # its piece is the plan's (`plan_nest`)
            piece = wave_piece_name(attr)
            self.imports.add("from nlc_runtime.exec.wavefront import wavefront")
            parent.body += [
                'if self.cfg.schedule == "wavefront" and t is not None:',
                f"    # a diagonal wavefront over pieces of {piece} tokens: wave w runs block i",
                "    # on piece w - i, the blocks of a wave batched (`nlc_runtime.exec.wavefront`)",
                f"    {out}, new_state[{key}] = wavefront(",
                f"        self.{attr}, {out}, state[{key}], t, {piece}, self.cfg.recompute",
                "    )",
                "else:",
            ] + ["    " + line for line in loop]
        else:
            parent.body += loop

    def component(
        self,
        c: ComponentBase,
        loc: tuple,
        prefix: str,
        scope: Scope,
        ins: list[str],
        top_attrs: dict[str, str],
        hops: tuple,
        shown: str,
    ) -> None:
        full = prefix + c.name
        d = self._input_width(full)
        tie = top_attrs.get(c.tie) if getattr(c, "tie", None) else None
        try:
            em = c.emit(d, self.settings, tie)
        except CodegenError as err:
            raise self.error(loc + err.loc, err.message) from None
        self.imports |= em.imports
        attr = scope.attrs[c.name]
        mod = f"self.{attr}"
        if em.inputs > len(ins):
            raise self.error(
                loc + ("inputs",),
                f"{c.kind} '{c.name}' needs {em.inputs} inputs here; `inputs` gives {len(ins)}",
            )
        call = render.call(em, mod, ins, f"state[{py(c.name)}]")
        out = f"h_{c.name}"
        shape = self.width(full)
        if em.module is not None:
            note = f"{full} ({c.kind}): {self.states_comment(full)}"
            if em.fixed:
                note += f"; {', '.join(em.fixed)} fixed by the spec (not scaled by Config)"
            ctor = render.constructor(em.module)
            scope.modules.append(ModuleDecl(attr, ctor, comment(note, 8), c.weights == "frozen"))
        if em.stateful:
            scope.stateful = True
            scope.clocked = scope.clocked or em.clocked
            clocked = [g for g in em.groups if isinstance(g.period, int)]
            scope.periods |= {g.period for g in clocked}
            scope.shaped |= {g.period for g in clocked if g.shaped}
            scope.wave_ok = scope.wave_ok and em.clocked and not em.lm_signal
            scope.init.append((c.name, f"{mod}.init_state(batch)"))
            if em.lm_signal:
                target = "state" if scope.input_name == "idx" else "new_state"
                key = py(c.name)
                scope.learn.append(f"{target}[{key}] = {mod}.learn(state[{key}], next(teach, []))")
            self.streaming.append(stateful(hops, c.name, attr, full, shown + c.name, em))
            if any(n.persist for n in self.graph.states() if n.component == full):
                scope.persist.append(c.name)
            scope.body += call_lines(f"{out}, new_state[{py(c.name)}]", call, shape)
        else:
            scope.body += call_lines(out, call, shape)

    def _input_width(self, full: str) -> int:
        ins = self.graph.inputs_of(full)
        w = (self.graph.widths or {}).get(ins[0]) if ins else None
        return w if w is not None else self.settings.d_model


def _stable_topo(deps: dict[str, list[str]], declared: list[str]) -> list[str]:
    """Topological order that keeps declaration order wherever dataflow allows."""
    done: list[str] = []
    seen: set[str] = set()
    remaining = list(declared)
    while remaining:
        for name in remaining:
            if all(d in seen for d in deps[name]):
                done.append(name)
                seen.add(name)
                remaining.remove(name)
                break
    return done


def shown_file_name(name: str) -> str:
    """A spec file's name as the emitted comments and docstrings show it: letters, digits and
    `._+-` kept, anything else `_` (a file name is user text: quotes, backslashes and line
    breaks in it must not end a docstring or a comment)."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name) or "_"


def _built(graph: Graph, model_doc: str) -> _Builder:
    """Every scope of the model walked: its classes, statements and stateful components."""
    b = _Builder(graph)
    b.scope(graph.spec.components, ("components",), "", "Model", model_doc, is_model=True)
    return b


def _with_nest(graph: Graph, plan: Plan, b: _Builder) -> Plan:
    """`plan` with the loop nest over the components the builder met (`plan_nest`)."""
    waves = {a: [s for s in b.streaming if s.hops[:1] and s.hops[0][0] == a] for a in b.waves}
    return replace(plan, nest=plan_nest(graph, b.streaming, waves))


def program_plan(graph: Graph, plan: Plan) -> Plan:
    """The plan of the collapsed graph completed with the emitted loop nest over the full
    graph `graph` (what `nlc plan --json` shows, and what `build_context` renders)."""
    return _with_nest(graph, plan, _built(graph, ""))


def build_context(graph: Graph, plan: Plan, plan_text: str, spec_file: str) -> dict:
    """Everything the templates need (see the module docstring)."""
    spec = graph.spec
    spec_file = shown_file_name(spec_file)
    b = _built(graph, f"Model '{spec.name}' emitted by nlc from {spec_file}.")
    scopes = b.scopes
    model_scope, blocks = scopes[0], scopes[1:]
    m = spec.model
    levels = []
    for lv in graph.levels or ():
        names = ", ".join(fold_names(list(lv.states)))
        levels += comment(f"level {lv.number} (period {lv.period}): {names}", 4)
    opt = spec.optimizer
    persist = any(s.persist for s in plan.scans)
    plan = _with_nest(graph, plan, b)
    nest = render_nest(plan.nest)
    stream = ["carried", "copy_state", "resume"]
    if model_scope.clocked:  # a component steps through its own boundaries in a span
        stream.append("span")
    b.imports.add(f"from nlc_runtime.exec.stream import {', '.join(stream)}")
    clock = ["is_due", "segments"] if plan.nest.clocks or plan.nest.lm_piece else ["segments"]
    b.imports.add(f"from nlc_runtime.exec.clock import {', '.join(clock)}")
    if nest["lm_piece"] is not None:
        b.imports.add("from nlc_runtime.exec import lm_signal")
        b.imports.add("from nlc_runtime.exec.state import detach_state")
        model_scope.init.append(("lm", "lm_signal.piece()"))
    model_scope.init.insert(0, ("t", "0"))
    return {
        "version": __version__,
        "spec_name": spec.name,
        "spec_file": spec_file,
        "description": comment(spec.description or spec.name, 0),
        "levels": [line[2:] for line in levels],
        "config": [
            ("vocab_size", repr(m.vocab_size), "vocabulary size"),
            ("d_model", repr(m.d_model), "width of the residual stream"),
            ("n_heads", repr(m.n_heads), "default head count"),
            ("context", repr(m.context), "tokens per sequence: the in-context clock"),
        ]
        + [(f, repr(r), _repeats_note(f, n)) for f, r, n in reversed(b.repeat_fields)]
        + [("impl", py("chunked"), "'naive': the per-token reference path of every memory")]
        + [
            (
                "schedule",
                py("fused"),
                "or 'plain' (the reference nest) or 'wavefront' (Model.step)",
            )
        ]
        + [("recompute", "False", "recompute each block's activations in backward (memory)")],
        "blocks": list(reversed(blocks)),  # inner classes first
        "model": model_scope,
        "nest": nest,
        # plain: a segment holds no boundary and the step needs no clock (nor specialises on it)
        "step_clock": ", None if plain else t" if model_scope.clocked else "",
        "train": {
            "batch_size": spec.train.batch_size,
            "steps": spec.train.steps,
            "warmup": spec.train.warmup,
            "grad_clip": spec.train.grad_clip,
            "accumulate": spec.train.accumulate,
            "eval_every": spec.train.eval_every,
            "seed": spec.train.seed,
            "optimizer": opt.kind,
            # adamw / sgd over all weights: torch.optim (fused AdamW on CUDA); any other rule,
            # groups with periods or no bias correction: the memory form in nlc_runtime.optim
            "native": opt.kind in ("adamw", "sgd")
            and not opt.groups
            and getattr(opt, "bias_correction", True),
            "settings": _optimizer_lines(opt.model_dump(exclude={"lr"})),
            "adamw_components": tuple(
                c.name
                for c in spec.components
                if getattr(c, "kind", None) == "lm_head" and not getattr(c, "tie", None)
            ),
            "lr": opt.lr,
            # settings the spec leaves out take the schema's defaults; the emitted line says so
            "defaulted": {
                f: "  # the spec schema's default (the spec does not set it)"
                for f in ("weight_decay", "betas", "eps", "momentum", "nesterov")
                if f not in opt.model_fields_set
            },
            "weight_decay": opt.weight_decay,
            "betas": tuple(opt.betas) if opt.kind == "adamw" else None,
            "eps": getattr(opt, "eps", None),
            "momentum": getattr(opt, "momentum", None),
            "nesterov": getattr(opt, "nesterov", None),
            "persist": persist,
            "stream": spec.train.stream,
            "stream_length": spec.train.stream_length,
            "bptt_windows": spec.train.bptt_windows,
        },
        "plan": _plan_lines(plan_text),
        "imports": import_block(b.imports),
    }


def _repeats_note(field_name: str, block: str) -> str:
    if field_name == "n_layers":
        return "repeats of each block without its own `repeat` (model.n_layers)"
    return f"repeats of block '{block}' (its own `repeat` in the spec)"


def _literal(value) -> str:
    """A Python literal in the emitted code's style (double quotes, tuples for pairs)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return py(value)
    return repr(value)


def _optimizer_lines(settings: dict) -> list[str]:
    """`key: value,` lines of the OPTIMIZER mapping of train.py (kind first)."""
    ordered = {"kind": settings.pop("kind"), **settings}
    return [f"{_literal(k)}: {_literal(v)}," for k, v in ordered.items()]


def import_block(runtime: set[str]) -> list[str]:
    """The third-party import lines of model.py, in the order ruff's isort keeps them."""
    base = {"import torch", "import torch.nn as nn", "import torch.nn.functional as F"}
    plain = sorted(
        {line for line in runtime if line.startswith("import ")} | base,
        key=lambda line: line.split()[1],
    )
    froms = sorted(
        (line for line in runtime if line.startswith("from ")), key=lambda text: text.split()[1]
    )
    return plain + froms


def _plan_lines(plan_text: str) -> list[str]:
    """The plan as comment lines for train.py's docstring, wrapped to the line length."""
    out = []
    for line in plan_text.splitlines():
        indent = len(line) - len(line.lstrip())
        wrapped = textwrap.wrap(line.strip(), WIDTH - 6 - indent - 4) or [""]
        out.append("    " + " " * indent + wrapped[0])
        out += ["    " + " " * (indent + 4) + rest for rest in wrapped[1:]]
    return [line.rstrip() for line in out]
