"""`nlc generate RUN --prompt TEXT`: sample text from the latest checkpoint of a run.

The model is rebuilt from RUN/code/model.py and its weights loaded from RUN/ckpt (safetensors,
no code executed from the checkpoint). The prompt is fed in pieces of the run's context, the
state each piece leaves passed to the next (as `nlc eval --stream` reads a text), then each new
token steps through the state the model carries (`nlc_runtime.exec.sampling.generate`): memories
keep learning at their boundaries and nothing is re-run, so a memory model generates past its
training context. A spec that persists memories starts from the state the checkpoint carries.

Bounds (`nlc.limits`, checked before the run is loaded; one line and exit 2 outside them):
`--tokens` 1 to 100,000, `--prompt` up to 100,000 characters of UTF-8 text, `--temperature`
0.001 to 100, `--seed` 0 to 2**64 - 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROG = "nlc generate"


class GenerateError(Exception):
    """Bad input to `nlc generate`: one line for the user, exit code 2."""


def check_options(args) -> str:
    """The options within their bounds (`nlc.limits`); returns the prompt as text. A prompt
    given as bytes that are not UTF-8 arrives with surrogate escapes: refused here."""
    from nlc.limits import (
        MAX_PROMPT_CHARS,
        MAX_SAMPLE_TOKENS,
        MAX_SEED,
        TEMPERATURE,
        LimitError,
        check_float,
        check_int,
    )

    check_int("--tokens", args.tokens, 1, MAX_SAMPLE_TOKENS)
    check_float("--temperature", args.temperature, *TEMPERATURE)
    check_int("--seed", args.seed, 0, MAX_SEED)
    prompt = args.prompt
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LimitError(
            "--prompt", f"at most {MAX_PROMPT_CHARS:,} characters (got {len(prompt):,})"
        )
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise LimitError("--prompt", "not UTF-8 text") from None
    return prompt


def encode_prompt(tok, prompt: str) -> list[int]:
    """The prompt's token ids (an empty prompt: a newline). Characters the run's tokenizer
    does not know are dropped by it; a prompt of nothing else is refused."""
    try:
        ids = tok.encode(prompt) or tok.encode("\n")
    except Exception as err:  # the tokenizers library raises plain Exception
        raise GenerateError(f"--prompt: the run's tokenizer cannot encode it: {err}") from None
    if not ids:
        raise GenerateError(
            f"--prompt: the run's tokenizer encodes none of {prompt[:40]!r} (characters "
            "outside its vocabulary); give text it knows"
        )
    return ids


def generate_command(args) -> int:
    from nlc.files import describe
    from nlc.limits import LimitError

    try:
        return _generate(args)
    except (GenerateError, LimitError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as err:  # the run's path refused by the system (a name too long ...)
        print(f"{PROG}: error: {describe(err)}", file=sys.stderr)
        return 2


def _generate(args) -> int:
    import torch
    from nlc_runtime.exec.sampling import generate

    from nlc.train.runfolder import RunError, load_run

    prompt = check_options(args)
    torch.manual_seed(args.seed)
    try:
        run = load_run(Path(args.run), args.device)
    except RunError as err:
        raise GenerateError(str(err)) from None
    state = run.carried
    if state is not None:  # persisted memories are per sequence of a batch: keep the first
        state = _first_row(state, args.device)
    tok = run.tokenizer
    ids = torch.tensor([encode_prompt(tok, prompt)], dtype=torch.long, device=args.device)
    piece = max(1, int(run.config.context))
    out, _ = generate(run.model, ids, args.tokens, args.temperature, args.top_k, state, piece=piece)
    print(tok.decode(out[0].tolist()))
    return 0


def _first_row(state, device: str):
    """The state of the first sequence of a batch, on `device`."""
    if isinstance(state, dict):
        return {k: _first_row(v, device) for k, v in state.items()}
    if isinstance(state, list):
        return [_first_row(v, device) for v in state]
    return state[:1].to(device) if hasattr(state, "shape") and state.dim() > 0 else state
