"""What the recall bench trains and scores: the spec sets, the MQAR grid and the training
flags. One place, so the table's header and the JSON can say exactly what was run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

WINDOW = 32  # the attention window of the windowed specs: "beyond the window" is past this

# name -> spec: a shipped preset name or a file of specs/recall/ (found by `spec_path`)
DEFAULT_SPECS = ["transformer", "recall/swa", "recall/swa-titans", "recall/gated-delta"]
FULL_SPECS = [*DEFAULT_SPECS, "titans-mac", "hope"]


@dataclass(frozen=True)
class Cell:
    """One test setting: examples of `seq_len` tokens holding `pairs` key-value pairs."""

    seq_len: int
    pairs: int

    @property
    def label(self) -> str:
        return f"{self.seq_len}x{self.pairs}"


@dataclass(frozen=True)
class Settings:
    """The bench's task and training settings (every spec gets the same)."""

    vocab: int = 64  # 32 keys, 32 values: small, as Zoology's small models use
    train_seq_len: int = 64  # short rows: more steps in the time cap (tests go to 256)
    train_pairs: tuple[int, ...] = (4, 8)  # a mixture, as Zoology trains
    train_examples: int = 8000  # per number of pairs
    test_examples: int = 50  # per cell
    cells: tuple[Cell, ...] = (
        Cell(64, 8), Cell(128, 8), Cell(256, 8),  # by sequence length
        Cell(128, 4), Cell(128, 16), Cell(128, 32),  # by number of pairs
    )  # fmt: skip
    width: int = 64
    layers: int = 2
    heads: int = 4
    steps: int = 20000  # in practice the time cap stops it
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 100
    minutes: float = 5.0  # training time cap per spec
    extra: tuple[str, ...] = field(default=())  # more `nlc train` flags (the quick mode's)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["cells"] = [c.label for c in self.cells]
        return d


def quick() -> Settings:
    """The test mode: 2 training steps per spec on a few examples, tiny cells (seconds)."""
    return Settings(
        train_pairs=(4,),
        train_seq_len=32,
        train_examples=16,
        test_examples=2,
        cells=(Cell(32, 4), Cell(64, 4)),
        width=16,
        steps=2,
        batch_size=2,
        warmup=1,
        minutes=1.0,
        extra=("--eval-every", "100", "--eval-iters", "1"),
    )
