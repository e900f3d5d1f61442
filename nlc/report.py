"""What `nlc levels` and `nlc check` print: the levels as JSON or a table, and a one-screen
summary of a spec (parameters, levels, collapsed form)."""

from __future__ import annotations

import re
from collections import defaultdict

from nlc.ir.graph import Graph, Level
from nlc.ir.nodes import StateKind
from nlc.pipeline import FrontResult


def levels_data(graph: Graph) -> list[dict]:
    assert graph.levels is not None
    return [
        {"level": lv.number, "period": lv.period.to_json(), "states": list(lv.states)}
        for lv in graph.levels
    ]


def levels_json(result: FrontResult) -> dict:
    """The exact document `nlc levels --json` prints."""
    full = result.full
    assert full.order is not None
    return {
        "spec": full.name,
        "levels": levels_data(full),
        "order": [[a, b] for a, b in full.order.covering],
        "collapsed": levels_data(result.collapsed),
    }


_INDEX = re.compile(r"\.(\d+)\.")


def fold_names(names: list[str]) -> list[str]:
    """Fold names that differ only in their first layer index: layers.{0..3}.attn.kv."""
    groups: dict[str, list[int]] = defaultdict(list)
    order: list[str] = []
    for name in names:
        m = _INDEX.search(name)
        key = name if m is None else name[: m.start()] + ".{}." + name[m.end() :]
        if key not in groups:
            order.append(key)
        groups[key].append(-1 if m is None else int(m.group(1)))
    out = []
    for key in order:
        idx = groups[key]
        if idx == [-1]:
            out.append(key)
        elif len(idx) == 1:
            out.append(key.replace("{}", str(idx[0])))
        elif idx == list(range(idx[0], idx[0] + len(idx))):
            out.append(key.replace("{}", f"{{{idx[0]}..{idx[-1]}}}"))
        else:
            out.append(key.replace("{}", "{" + ",".join(map(str, idx)) + "}"))
    return out


def _level_params(graph: Graph, level: Level) -> int:
    return sum(
        graph.param_count(s) for s in level.states if graph.node(s).kind != StateKind.OPT_STATE
    )


def human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def levels_table(graph: Graph, width: int = 100) -> str:
    """Levels as an aligned text table, layer indices folded."""
    assert graph.levels is not None
    rows = [("level", "period", "states", "numel", "state names")]
    for lv in graph.levels:
        names = ", ".join(fold_names(list(lv.states)))
        rows.append(
            (
                str(lv.number),
                str(lv.period),
                str(len(lv.states)),
                human(_level_params(graph, lv)),
                names,
            )
        )
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for r in rows:
        head = "  ".join(r[i].ljust(w[i]) for i in range(4)) + "  "
        text = r[4]
        room = max(20, width - len(head))
        first = True
        while text or first:
            cut = text if len(text) <= room else text[: text.rfind(", ", 0, room) + 1 or room]
            out.append((head if first else " " * len(head)) + cut.strip())
            text = text[len(cut) :].strip()
            first = False
    return "\n".join(out)


def parameter_counts(graph: Graph) -> dict[str, int]:
    trained = frozen = in_context = 0
    for s in graph.states():
        n = graph.param_count(s.name)
        if s.kind == StateKind.WEIGHT:
            if s.period.is_frozen:
                frozen += n
            else:
                trained += n
        elif s.kind != StateKind.OPT_STATE:
            in_context += n
    return {"trained": trained, "frozen": frozen, "in_context_per_sequence": in_context}


def check_json(result: FrontResult) -> dict:
    """The document `nlc check --json` prints: the counts of the summary (equal to the emitted
    model's, tested) and the levels of `nlc levels --json`. Optimizer moments are states, in
    the levels, never among the parameters."""
    full = result.full
    p = parameter_counts(full)
    opt_states = sum(
        full.param_count(s.name) for s in full.states() if s.kind == StateKind.OPT_STATE
    )
    return {
        "spec": full.name,
        "file": str(full.file),
        "parameters": p["trained"] + p["frozen"],
        "trainable": p["trained"],
        "frozen": p["frozen"],
        "in_context_state_per_sequence": p["in_context_per_sequence"],
        "optimizer_state": opt_states,
        "optimizer": full.spec.optimizer.kind,
        **{k: v for k, v in levels_json(result).items() if k != "spec"},
    }


def check_summary(result: FrontResult) -> str:
    """The one-screen summary of `nlc check`."""
    full, col = result.full, result.collapsed
    m = full.model
    p = parameter_counts(full)
    n_components = len(full.components)
    lines = [
        f"spec {full.name} ({full.file}): OK",
        f"  model: vocab {m.vocab_size}, width {m.d_model}, heads {m.n_heads}, "
        f"context {m.context}, {n_components} components",
        f"  parameters: {human(p['trained'])} trained, {human(p['frozen'])} frozen; "
        f"in-context state {human(p['in_context_per_sequence'])} numbers per sequence",
        f"  optimizer: {full.spec.optimizer.kind}",
        "",
        f"levels ({len(full.levels or ())}, 1 = fastest):",
        levels_table(full),
        "",
        f"collapsed form ({len(col.levels or ())} levels):",
        "  "
        + " | ".join(
            f"L{lv.number} period {lv.period}: {len(lv.states)} states" for lv in col.levels or ()
        ),
    ]
    folded = [s.name for s in full.states() if s.name not in col.nx]
    if folded:
        lines.append("  folded or removed by collapse: " + ", ".join(fold_names(folded)))
    lines += [f"warning: {w}" for w in stream_warnings(full)]
    return "\n".join(lines)


def stream_warnings(graph: Graph) -> list[str]:
    """Levels whose in-context learning never reaches a loss in training: a period of at least
    the context fires after a window's last token, and with random windows (no `train.stream`)
    the next window starts afresh."""
    if graph.spec.train.stream:
        return []
    context = graph.model.context
    return [
        f"level {lv.number} (period {lv.period.tokens}) fires only after the last token of a "
        f"{context}-token training window: its in-context learning reaches no loss unless the "
        "state is carried from window to window (train: {stream: true}, or nlc train --stream)"
        for lv in graph.levels or ()
        if lv.period.tokens is not None and lv.period.tokens >= context
    ]
