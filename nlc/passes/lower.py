"""Pass `lower`: validated spec -> IR graph.

Requires: a `LoadedSpec` that passed schema validation.
Ensures: blocks expanded (`layers.0.attn`, `layers.1.attn`, ...); every input reference
resolved (errors name the field); one compute node per component (plus `<c>.write` for caches
written before they are read, and a final `loss`); one state node per declared state with its
period; typed edges (dataflow, reads, updates, initializes); the outer optimizer's memories as
state nodes that update every trained weight, and per-group periods (`lower_optimizer`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import networkx as nx

from nlc.errors import Diagnostic, SpecError, format_path
from nlc.ir.graph import Graph
from nlc.ir.nodes import ComputeNode, EdgeKind, Signal, StateKind, StateNode
from nlc.kinds.base import ComponentBase
from nlc.kinds.lm_head import LMHead
from nlc.passes.lower_optimizer import lower_optimizer
from nlc.spec.load import LoadedSpec
from nlc.spec.schema import Block

TOKENS = "tokens"  # the pseudo-node that stands for the input token ids
LOSS = "loss"


@dataclass
class _Scope:
    prefix: str  # '' at top level, 'layers.3.' inside a block repetition
    block_input: str | None  # node that 'in' refers to (None at top level)


class _Lowering:
    def __init__(self, loaded: LoadedSpec):
        self.loaded = loaded
        self.spec = loaded.spec
        self.src = loaded.source
        self.g = nx.MultiDiGraph()
        self.components: dict[str, ComponentBase] = {}
        self.locs: dict[str, tuple] = {}
        self.used: set[str] = set()

    # --- names ---------------------------------------------------------------------------------
    def _output_of(self, entry, prefix: str) -> str:
        """The node name that stands for the output of a list entry."""
        if isinstance(entry, Block):
            repeat = entry.repeat or self.spec.model.n_layers
            inner = f"{prefix}{entry.name}.{repeat - 1}."
            out_name = entry.output or entry.components[-1].name
            target = next((e for e in entry.components if e.name == out_name), None)
            if target is None:
                return inner + out_name  # reported by _lower_entries
            return self._output_of(target, inner)
        return prefix + entry.name

    def _check_names(self, entries: list, loc: tuple) -> None:
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if entry.name in seen:
                first = self.src.line_of(loc + (seen[entry.name], "name"))
                raise self.src.error(
                    loc + (i, "name"), f"duplicate name '{entry.name}' (first used on line {first})"
                )
            seen[entry.name] = i

    # --- entries -------------------------------------------------------------------------------
    def lower_entries(self, entries: list, loc: tuple, scope: _Scope, default_input: str) -> str:
        """Lower a list of entries; returns the node holding the list's output."""
        self._check_names(entries, loc)
        outputs = {e.name: self._output_of(e, scope.prefix) for e in entries}
        previous = default_input
        last = default_input
        for i, entry in enumerate(entries):
            eloc = loc + (i,)
            refs = self._resolve_inputs(entry, eloc, scope, outputs, previous)
            if isinstance(entry, Block):
                last = self._lower_block(entry, eloc, scope, refs)
            else:
                last = self._lower_component(entry, eloc, scope, refs)
            previous = last
        return last

    def _resolve_inputs(self, entry, loc, scope, outputs, previous) -> list[str]:
        names = entry.inputs
        if names is None:
            return [previous]
        if len(set(names)) != len(names):
            raise self.src.error(loc + ("inputs",), "an input is listed twice")
        refs = []
        for k, ref in enumerate(names):
            if ref == "in":
                if scope.block_input is None:
                    raise self.src.error(
                        loc + ("inputs", k),
                        "'in' names a block's input; it is only valid inside a block",
                    )
                refs.append(scope.block_input)
            elif ref in outputs and ref != entry.name:
                refs.append(outputs[ref])
            else:
                known = ["in"] * (scope.block_input is not None) + [
                    n for n in outputs if n != entry.name
                ]
                close = difflib.get_close_matches(ref, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                what = "itself" if ref == entry.name else f"'{ref}'"
                raise self.src.error(
                    loc + ("inputs", k),
                    f"unknown input {what}{hint}; expected one of: {', '.join(known) or '(none)'}",
                )
        return refs

    def _lower_block(self, block: Block, loc: tuple, scope: _Scope, refs: list[str]) -> str:
        names = [e.name for e in block.components]
        if block.output is not None and block.output not in names:
            raise self.src.error(
                loc + ("output",),
                f"unknown output '{block.output}'; expected one of: {', '.join(names)}",
            )
        current = refs[0]
        for r in range(block.repeat or self.spec.model.n_layers):
            inner = _Scope(f"{scope.prefix}{block.name}.{r}.", current)
            self.lower_entries(block.components, loc + ("components",), inner, current)
            out_name = block.output or block.components[-1].name
            target = block.components[names.index(out_name)]
            current = self._output_of(target, inner.prefix)
        return current

    def _lower_component(
        self, comp: ComponentBase, loc: tuple, scope: _Scope, refs: list[str]
    ) -> str:
        name = scope.prefix + comp.name
        n_in = len(refs)
        if n_in < comp.min_inputs or (comp.max_inputs is not None and n_in > comp.max_inputs):
            want = (
                f"exactly {comp.min_inputs}"
                if comp.min_inputs == comp.max_inputs
                else f"at least {comp.min_inputs}"
                + (f" and at most {comp.max_inputs}" if comp.max_inputs else "")
            )
            raise self.src.error(
                loc + ("inputs",), f"a {comp.kind} takes {want} input(s), got {n_in}"
            )
        if comp.reads_tokens != (refs == [TOKENS]):
            msg = (
                f"an {comp.kind} reads token ids; its input must be the model input"
                if comp.reads_tokens
                else f"'{comp.kind}' cannot read token ids directly; put an embedding first"
            )
            raise self.src.error(loc + ("inputs",) if comp.inputs else loc + ("kind",), msg)
        self.components[name] = comp
        self.locs[name] = loc
        self.g.add_node(name, node=ComputeNode(name, comp.kind, name, loc))
        for k, ref in enumerate(refs):
            if ref != TOKENS:
                self.g.add_edge(ref, name, key=EdgeKind.DATAFLOW, index=k)
                self.used.add(ref)
        self._lower_states(comp, name, loc, refs)
        return name

    def _lower_states(self, comp: ComponentBase, name: str, loc: tuple, refs: list[str]) -> None:
        decls = comp.state_decls(self.spec.model)
        for decl in decls:
            sname = f"{name}.{decl.local}"
            node = StateNode(
                sname, decl.kind, decl.period, name, loc + decl.loc, decl.persist, decl.lr_zero
            )
            self.g.add_node(sname, node=node)
            if decl.kind != StateKind.MOMENTUM:  # a momentum only feeds its memory's update
                self.g.add_edge(sname, name, key=EdgeKind.READS, fresh=decl.fresh)
            if decl.init is not None:
                self.g.add_edge(f"{name}.{decl.init}", sname, key=EdgeKind.INITIALIZES)
            for before in decl.after:
                self.g.add_edge(f"{name}.{before}", sname, key=EdgeKind.UPDATES)
            if decl.signal == Signal.INPUTS:
                writer = f"{name}.write"
                if writer not in self.g:
                    self.g.add_node(writer, node=ComputeNode(writer, "write", name, loc))
                    for k, ref in enumerate(refs):
                        if ref != TOKENS:
                            self.g.add_edge(ref, writer, key=EdgeKind.DATAFLOW, index=k)
                self.g.add_edge(writer, sname, key=EdgeKind.UPDATES)
            elif decl.signal == Signal.COMPONENT:
                self.g.add_edge(name, sname, key=EdgeKind.UPDATES)
            elif decl.signal == Signal.LOSS and decl.kind != StateKind.WEIGHT:
                # the LM-gradient signal at the component's output, for its chunk's tokens
                self.g.add_edge(name, sname, key=EdgeKind.UPDATES)
                self.g.add_edge(LOSS, sname, key=EdgeKind.UPDATES)
        if isinstance(comp, LMHead) and comp.tie is not None:
            self._tie(comp, name, loc)

    def _tie(self, comp: LMHead, name: str, loc: tuple) -> None:
        target = self.components.get(comp.tie)
        if target is None or target.kind != "embedding":
            embeddings = [n for n, c in self.components.items() if c.kind == "embedding"]
            raise self.src.error(
                loc + ("tie",),
                f"'{comp.tie}' is not an earlier embedding; "
                f"expected one of: {', '.join(embeddings) or '(none)'}",
            )
        self.g.add_edge(f"{comp.tie}.W", name, key=EdgeKind.READS, fresh=False)

    def check_used(self, output: str) -> None:
        for name in self.components:
            if name != output and name not in self.used:
                raise self.src.error(
                    self.locs[name] + ("name",),
                    f"the output of '{name}' is never used; every component must feed the loss",
                )


def check_acyclic(graph: Graph) -> None:
    """Raise a SpecError naming the cycle when the dataflow between components has one."""
    flow = graph.dataflow()
    if nx.is_directed_acyclic_graph(flow):
        return
    try:
        cycle = nx.find_cycle(flow)
    except nx.NetworkXNoCycle:
        return
    names = [u for u, _ in cycle] + [cycle[0][0]]
    periods = sorted({str(s.period) for s in graph.states() if s.component in names})
    comp = graph.node(cycle[0][0])
    raise SpecError(
        Diagnostic(
            graph.file,
            graph.source.line_of(comp.loc + ("inputs",)) if graph.source else None,
            format_path(comp.loc + ("inputs",)),
            f"dependency cycle between components: {' -> '.join(names)} "
            f"(periods {', '.join(periods) or 'none'}); a component cannot need its own output",
        )
    )


def lower(loaded: LoadedSpec) -> Graph:
    """Lower a validated spec to the IR graph (see the module docstring)."""
    low = _Lowering(loaded)
    spec = loaded.spec
    low.g.add_node(LOSS, node=ComputeNode(LOSS, "loss", "", ("components",)))
    output = low.lower_entries(spec.components, ("components",), _Scope("", None), TOKENS)
    if output == TOKENS:
        raise loaded.source.error(("components",), "the model has no components")
    low.g.add_edge(output, LOSS, key=EdgeKind.DATAFLOW, index=0)
    low.check_used(output)
    lower_optimizer(low.g, spec.optimizer, low.components, loaded.source)
    # make node order canonical: the loss node last, everything else in lowering order
    ordered = nx.MultiDiGraph()
    for n, data in low.g.nodes(data=True):
        if n != LOSS:
            ordered.add_node(n, **data)
    ordered.add_node(LOSS, **low.g.nodes[LOSS])
    ordered.add_edges_from(low.g.edges(keys=True, data=True))
    graph = Graph(
        name=spec.name,
        file=loaded.file,
        model=spec.model,
        spec=spec,
        nx=ordered,
        components=low.components,
        component_locs=low.locs,
        source=loaded.source,
        passes=("lower",),
    )
    check_acyclic(graph)
    return graph
