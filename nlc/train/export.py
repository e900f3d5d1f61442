"""`nlc export RUN -o DIR`: a trained run as files others load in plain PyTorch.

DIR gets `model.safetensors` (every weight under its state-dict name, tied ones written
twice, so `model.load_state_dict(load_file(...))` is strict; the spec and Config in the
header), `config.json` (the Config's fields), `model.py` and `sample.py` (the emitted code),
`spec.yaml`, and the run's `tokenizer.json` when it has one (none: UTF-8 bytes). Loading needs
torch, safetensors and `nlc_runtime`, not nlc:

    from model import Config, Model
    from safetensors.torch import load_file
    model = Model(Config(**json.load(open("config.json"))))
    model.load_state_dict(load_file("model.safetensors"))

The weights are the ones `nlc generate` would use (the latest complete checkpoint). The
in-context memories a spec persists across sequences are not exported: a loaded model starts
each sequence from its learned initial state.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

FILES = ["model.py", "sample.py", "spec.yaml"]


def _fail(message: str) -> int:
    print(f"nlc export: error: {message}", file=sys.stderr)
    return 2


def export_command(args) -> int:
    from nlc_runtime.checkpoint import CheckpointError, read_metadata
    from safetensors.torch import save_file

    from nlc.train.runfolder import RunError, load_run

    out = Path(args.out)
    for p in [out, *out.parents]:
        if p.exists() and not p.is_dir():
            return _fail(f"{p}: exists and is not a folder (-o names the folder to write into)")
    try:
        run = load_run(Path(args.run))
        header = read_metadata(run.folder / "ckpt" / "model.safetensors")
    except (RunError, CheckpointError) as err:
        return _fail(str(err))
    config = dataclasses.asdict(run.config)
    code = run.folder / "code"
    meta = {
        "nlc_config": json.dumps(config, sort_keys=True),
        "nlc_spec": header.get("nlc_spec") or (code / "spec.yaml").read_text(encoding="utf-8"),
        "format": "pt",
    }
    weights = {k: v.detach().clone().contiguous() for k, v in run.model.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / "model.safetensors"), metadata=meta)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    written = [out / "model.safetensors", out / "config.json"]
    names = FILES + (["tokenizer.json"] if (run.folder / "tokenizer.json").exists() else [])
    for name in names:
        source = run.folder / name if name == "tokenizer.json" else code / name
        if source.exists():  # a run compiled before sample.py was emitted has none
            shutil.copyfile(source, out / name)
            written.append(out / name)
    for path in written:
        print(path)
    return 0
