"""The spec language: the top-level document, blocks and training settings.

A spec is a YAML mapping validated by these pydantic models (unknown keys are errors). The
component kinds live in `nlc.kinds` (one module each); this module assembles them into the
`Entry` union (a component, chosen by its `kind`, or a repeated `block` of components); the
outer optimizer's kinds live in `nlc.spec.optimizers`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from nlc_runtime.training.flags import (
    MAX_BATCH,
    MAX_SEED,
    MAX_STEPS,
    MAX_STREAM,
    MAX_WINDOWS,
)
from pydantic import Discriminator, Field, Tag

from nlc.kinds import KINDS
from nlc.kinds.base import ComponentBase
from nlc.spec.common import Identifier, ModelSettings, Strict
from nlc.spec.optimizers import AdamW, OuterOptimizer

COMPONENT_KINDS: dict[str, type[ComponentBase]] = KINDS
"""Every component kind, by the name a spec uses in `kind:`."""

__all__ = ["COMPONENT_KINDS", "Block", "Entry", "ModelSettings", "Spec", "TrainSettings"]
# `ModelSettings` lives in `nlc.spec.common` (the kinds and the IR read it, below this module)


class TrainSettings(Strict):
    """Defaults of the emitted training script (each can be overridden on the command line)."""

    # the bounds of train.py's own options (nlc_runtime.training.flags): what check accepts, trains
    batch_size: int = Field(8, gt=0, le=MAX_BATCH)
    steps: int = Field(1000, gt=0, le=MAX_STEPS)
    warmup: int = Field(100, ge=0, le=MAX_STEPS)
    grad_clip: float | None = Field(1.0, gt=0)
    accumulate: int = Field(1, gt=0, le=MAX_BATCH, description="Gradient accumulation micro-steps.")
    eval_every: int = Field(100, gt=0, le=MAX_STEPS)
    seed: int = Field(1337, ge=0, le=MAX_SEED)
    stream: bool = Field(
        False,
        description="Stream training: each batch row reads consecutive windows of one stream, "
        "the in-context state carried from window to window (train.py --stream).",
    )
    stream_length: int | None = Field(
        None,
        gt=0,
        le=MAX_STREAM,
        description="Tokens per stream (default: the documents of the data, else 16384).",
    )
    bptt_windows: int = Field(
        1, gt=0, le=MAX_WINDOWS, description="Windows per call under stream: the graph spans them."
    )


def _entry_tag(value: Any) -> str | None:
    """Discriminate list entries: a component by its `kind`, a block by its `components`."""
    if isinstance(value, dict):
        if "kind" in value:
            return value["kind"] if isinstance(value["kind"], str) else None
        if "components" in value or "repeat" in value:
            return "block"
        return None
    if isinstance(value, Block):
        return "block"
    return getattr(value, "kind", None)


Entry = Annotated[
    Union[  # noqa: UP007 (a Union built from the catalog)
        tuple(Annotated[cls, Tag(name)] for name, cls in COMPONENT_KINDS.items())  # type: ignore[misc]
        + (Annotated["Block", Tag("block")],)
    ],
    Discriminator(_entry_tag),
]


class Block(Strict):
    """A group of components repeated `repeat` times (layers). Inside, `in` names the block's
    input; the block's output is its `output` component (default: the last one)."""

    name: Identifier
    repeat: int | None = Field(None, gt=0, le=1024, description="Default: model.n_layers.")
    components: list[Entry] = Field(min_length=1)
    output: str | None = None
    inputs: list[str] | None = Field(None, max_length=1)


class Spec(Strict):
    """A multi-timescale model: settings, components (dataflow), optimizer, training defaults."""

    nlc: Literal[1] = Field(1, description="Spec format version.")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    model: ModelSettings
    components: list[Entry] = Field(min_length=1)
    optimizer: OuterOptimizer = AdamW()
    train: TrainSettings = TrainSettings()


Block.model_rebuild()
Spec.model_rebuild()
