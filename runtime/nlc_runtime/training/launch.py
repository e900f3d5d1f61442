"""How train.py starts and ends: the process group around training (torchrun) and the exit
code of the command line."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from nlc_runtime.errors import DataError
from nlc_runtime.training import distributed
from nlc_runtime.training.checkpoint import CheckpointError


@contextlib.contextmanager
def processes(device: str) -> Iterator[tuple[distributed.Dist, str]]:
    """Join torchrun's process group (alone: nothing to join) and give this process's rank
    facts and device; leave the group however training ends."""
    dist, device = distributed.setup(device)
    try:
        yield dist, device
        # all ranks finish (rank 0 writes the summary) before any tears the group down: a peer
        # that exits first can abort the other's gloo threads ("terminate called ...")
        distributed.barrier(dist)
    finally:
        distributed.teardown(dist)


def exit_code(main: Callable[[], object]) -> int:
    """Run `main` as a command: 0 done; 2 bad data or checkpoint, 1 a loss that is not finite,
    each one line on stderr (no traceback)."""
    try:
        main()
    except (DataError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:
        print(f"error: {err} (try a lower --lr)", file=sys.stderr)
        return 1
    return 0
