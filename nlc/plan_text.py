"""Render a `Plan` as the readable loop nest that `nlc plan` prints."""

from __future__ import annotations

from collections import defaultdict

from nlc.ir.plan import Plan
from nlc.report import fold_names


def _local(states: tuple[str, ...], component: str) -> str:
    return ", ".join(s[len(component) + 1 :] for s in states)


def render_plan(plan: Plan) -> str:
    """The loop nest of `plan`, one timescale per line, fastest innermost."""
    o = plan.outer
    lines = [f"plan of '{plan.spec}' (context {plan.context} tokens)", ""]
    lines.append(f"for step in 1..{o.steps}:  # outer level: {o.optimizer}")
    lines.append(f"  for micro in 1..{o.accumulate}:  # gradient accumulation")
    persist = sorted({s.component for s in plan.scans if s.persist})
    reset = "in-context states start from their meta-learned initial values"
    lines.append(f"    for sequence in batch of {o.batch_size}:  # {reset}")
    if persist:
        lines.append(f"      # persisted across sequences: {', '.join(fold_names(persist))}")
    indent = "      "
    if plan.lm_piece is not None:
        lines.append(
            f"{indent}for piece in pieces of {plan.lm_piece} tokens:"
            "  # LM-signal updates need dL/dy of each piece first"
        )
        indent += "  "
    # group scans by (chunk, local states, kind, signal) and fold the layer index
    groups: dict[tuple, list[str]] = defaultdict(list)
    for s in plan.scans:
        key = (s.chunk, _local(s.states, s.component), s.kind, s.signal, s.flush)
        groups[key].append(s.component)
    for (chunk, states, kind, signal, flush), comps in sorted(
        groups.items(), key=lambda kv: kv[0][0]
    ):
        every = "every token" if chunk == 1 else f"every {chunk} tokens"
        source = {
            "inputs": "append before read",
            "component": "inner objective",
            "loss": "LM gradient",
        }[signal]
        fused = f", {len(comps)} scans fused" if len(comps) > 1 else ""
        tail = "" if flush or plan.context % chunk == 0 else ", last partial chunk dropped"
        where = ", ".join(fold_names(comps))
        lines.append(f"{indent}{every}: {where} [{states}]  # {kind}, {source}{fused}{tail}")
    if not plan.scans:
        lines.append(
            f"{indent}# no in-context state: every token is computed with the outer weights"
        )
    flushes = [b for b in plan.boundaries if b.flush]
    if flushes:
        lines.append(
            f"{indent[:-2] if plan.lm_piece else indent}at the end of the sequence: flush "
            f"{', '.join(fold_names(list(flushes[0].states)))}"
        )
    fired = sum(1 for b in plan.boundaries if not b.flush)
    lines.append(
        f"      # updates fire after {fired} of {plan.context} tokens "
        f"(faster states first at shared boundaries)"
    )
    lines.append("    loss.backward()  # through every in-context update, into the initial states")
    frozen = f"; frozen: {', '.join(fold_names(list(o.frozen)))}" if o.frozen else ""
    periodic = [u for u in o.schedule if u.every > 1]
    if not periodic:  # one outer clock
        states = ", ".join(o.states) if o.states else "(none)"
        lines.append(f"  optimizer step: {states} ≻ {o.trained} trained weight groups{frozen}")
        return "\n".join(lines)
    first = next((u for u in o.schedule if u.every == 1), None)
    states = ", ".join(first.states) if first and first.states else "(none)"
    count = first.weights if first else 0
    lines.append(f"  optimizer step: {states} ≻ {count} trained weight groups{frozen}")
    for u in periodic:
        moved = f" ≻ {u.weights} weight groups" if u.weights else ""
        lines.append(
            f"  every {u.every} optimizer steps: {', '.join(u.states) or '(none)'}{moved}"
            "  # from the gradients summed since the last update"
        )
    return "\n".join(lines)
