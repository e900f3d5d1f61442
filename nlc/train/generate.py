"""`nlc generate RUN --prompt TEXT`: sample text from the latest checkpoint of a run.

The model is rebuilt from RUN/code/model.py and its weights loaded from RUN/ckpt (safetensors,
no code executed from the checkpoint). Each new token is predicted from the last `context`
tokens, the in-context memories rebuilt over that window as in training (state=None), or
started from the persisted state the checkpoint carries when the spec persists memories.
"""

from __future__ import annotations

import sys
from pathlib import Path


def sample(model, ids, steps: int, context: int, temperature: float, top_k: int, state=None):
    import torch

    device = next(model.parameters()).device  # the prompt goes where the model is (CUDA too)
    ids = torch.tensor([ids], dtype=torch.long, device=device)
    for _ in range(steps):
        window = ids[:, -context:]
        with torch.no_grad():
            logits, _ = model(window, state)
        logits = logits[:, -1, :].float()
        if temperature <= 0:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(torch.softmax(logits, -1), 1)
        ids = torch.cat([ids, nxt], dim=1)
    return ids[0].tolist()


def generate_command(args) -> int:
    import torch
    from nlc_runtime.checkpoint import CheckpointError, load_checkpoint
    from nlc_runtime.data import DataError, make_tokenizer

    from nlc.train.emitted import load_module

    run = Path(args.run)
    if not (run / "code" / "model.py").exists():
        print(f"nlc generate: error: {run}: not a run folder (no code/model.py)", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    module = load_module(run / "code", "model")
    cfg = module.Config()
    model = module.Model(cfg)
    try:
        saved = load_checkpoint(run / "ckpt", model)
    except CheckpointError as err:
        print(f"nlc generate: error: {err}", file=sys.stderr)
        return 2
    model.to(args.device).eval()
    state = saved.get("memory") or None
    if state is not None:  # persisted memories are per sequence of a batch: keep the first
        state = _first_row(state)
    kind = "bpe" if (run / "tokenizer.json").exists() else "byte"
    try:
        tok = make_tokenizer(kind, run, cfg.vocab_size)
    except DataError as err:
        print(f"nlc generate: error: {err}", file=sys.stderr)
        return 2
    prompt = tok.encode(args.prompt) or tok.encode("\n")
    out = sample(model, prompt, args.tokens, cfg.context, args.temperature, args.top_k, state)
    print(tok.decode(out))
    return 0


def _first_row(state):
    if isinstance(state, dict):
        return {k: _first_row(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_first_row(v) for v in state]
    return state[:1] if hasattr(state, "shape") and state.dim() > 0 else state
