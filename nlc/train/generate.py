"""`nlc generate RUN --prompt TEXT`: sample text from the latest checkpoint of a run.

The model is rebuilt from RUN/code/model.py and its weights loaded from RUN/ckpt (safetensors,
no code executed from the checkpoint). The prompt is fed once, then each new token steps
through the state the model carries (`nlc_runtime.sampling.generate`): memories keep learning
at their boundaries and nothing is re-run, so a memory model generates past its training
context. A spec that persists memories starts from the state the checkpoint carries.
"""

from __future__ import annotations

import sys
from pathlib import Path


def generate_command(args) -> int:
    import torch
    from nlc_runtime.sampling import generate

    from nlc.train.runfolder import RunError, load_run

    torch.manual_seed(args.seed)
    try:
        run = load_run(Path(args.run), args.device)
    except RunError as err:
        print(f"nlc generate: error: {err}", file=sys.stderr)
        return 2
    state = run.carried
    if state is not None:  # persisted memories are per sequence of a batch: keep the first
        state = _first_row(state, args.device)
    tok = run.tokenizer
    prompt = tok.encode(args.prompt) or tok.encode("\n")
    ids = torch.tensor([prompt], dtype=torch.long, device=args.device)
    out, _ = generate(run.model, ids, args.tokens, args.temperature, args.top_k, state)
    print(tok.decode(out[0].tolist()))
    return 0


def _first_row(state, device: str):
    """The state of the first sequence of a batch, on `device`."""
    if isinstance(state, dict):
        return {k: _first_row(v, device) for k, v in state.items()}
    if isinstance(state, list):
        return [_first_row(v, device) for v in state]
    return state[:1].to(device) if hasattr(state, "shape") and state.dim() > 0 else state
