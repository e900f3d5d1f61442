"""A kind's description of its runtime call (`nlc.kinds.emission`) as emitted source: the
constructor expression of its module and the expression of its call in the segment step."""

from __future__ import annotations

from nlc.kinds.emission import Call, Construct, Emission, py


def runtime_ref(construct: Construct) -> str:
    """How the emitted code names the runtime class (`rt.MLP`, `nn.Linear`, `CMS`)."""
    r = construct.runtime
    return f"{r.alias}.{r.name}" if r.alias is not None else r.name


def constructor(construct: Construct) -> str:
    """`Class(arg, ..., key=value, ...)`."""
    parts = [py(a) for a in construct.args]
    parts += [f"{key}={py(value)}" for key, value in construct.kwargs.items()]
    return f"{runtime_ref(construct)}({', '.join(parts)})"


def call(em: Emission, module: str, inputs: list[str], state: str) -> str:
    """The expression calling the component: `module` its module, `inputs` the names of its
    inputs' values, `state` its state entry."""
    xs = ", ".join(inputs[: em.inputs])
    if em.call is Call.SUM:
        return " + ".join(inputs)
    if em.call is Call.PASS:
        return inputs[0]
    if em.call is Call.TIED:
        return f"F.linear({inputs[0]}, self.{em.tied}.weight)"
    if em.call is Call.STREAM:
        return f"{module}({xs}, {state})"
    if em.call is Call.SPAN:  # `nlc_runtime.exec.stream.span`: the updates inside the span
        return f"span({module}, {state}, t, {xs})"
    return f"{module}({xs})"
