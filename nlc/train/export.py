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

The spec is the one in the checkpoint's header (what the weights were trained with); a run
folder whose code/spec.yaml or Config says otherwise (edited after training) is refused.
Only files inside the run folder are read: one reached through a symbolic link out of it is
refused.

DIR is written only when it is new, empty, or an earlier export (its `.nlc-export.json` lists
what export wrote, with their SHA-256): a folder inside the run, or holding any file export did
not write (or one changed since), is refused, and an earlier export is replaced only with
`--force` (files it wrote that this export does not, such as a tokenizer.json, are removed).
Each file is written through `nlc.files.write_file` (a temporary file, then renamed).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

FILES = ["model.py", "sample.py", "spec.yaml"]
MANIFEST = ".nlc-export.json"
IGNORED = {"__pycache__"}  # what running model.py / sample.py in DIR leaves


class ExportError(Exception):
    """Bad input to `nlc export`: one line for the user, exit code 2."""


def _fail(message: str) -> int:
    print(f"nlc export: error: {message}", file=sys.stderr)
    return 2


def export_command(args) -> int:
    from nlc.files import WriteError, describe

    try:
        for path in export(Path(args.run), Path(args.out), getattr(args, "force", False)):
            print(path)
    except (ExportError, WriteError) as err:
        return _fail(str(err))
    except BrokenPipeError:
        raise
    except OSError as err:  # a path the checks let through that the system refuses
        return _fail(describe(err))
    return 0


def read_manifest(out: Path) -> dict[str, str | None]:
    """name -> SHA-256 (None: being written) of the files an earlier export wrote to `out`."""
    from nlc.files import read_regular

    path = out / MANIFEST
    try:
        manifest = json.loads(read_regular(path, ExportError).decode("utf-8"))
    except ValueError:  # not UTF-8, or not JSON
        manifest = None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")
        and (digest is None or isinstance(digest, str))
        for name, digest in files.items()
    ):  # fmt: skip
        raise ExportError(f"{path}: not an export manifest; export into a new folder")
    return files


def check_out(out: Path, run: Path, force: bool) -> dict[str, str | None]:
    """Why `out` cannot be written (ExportError), else what an earlier export there wrote."""
    import os
    import stat

    from nlc_runtime.training.files import file_sha256 as sha256

    from nlc.files import check_parents, is_inside

    if not str(out).strip():
        raise ExportError("-o: give a folder to write into")
    check_parents(out)
    if run.exists() and is_inside(out, run):
        raise ExportError(f"{out}: inside the run folder {run}; export to a folder outside it")
    if not out.exists():
        return {}
    if not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder (-o names the folder to write into)")
    names = sorted(set(os.listdir(out)) - IGNORED)
    if not names:
        return {}
    if MANIFEST not in names:
        raise ExportError(
            f"{out}: holds files nlc export did not write ({names[0]} ...); export into a new "
            "or empty folder"
        )
    files = read_manifest(out)
    for name in names:
        if name == MANIFEST or _leftover(name, files):
            continue
        if name not in files:
            raise ExportError(f"{out}: holds {name}, which nlc export did not write; not replaced")
        st = os.lstat(out / name)
        if not stat.S_ISREG(st.st_mode):
            raise ExportError(f"{out / name}: not a regular file nlc export wrote; not replaced")
        if files[name] is not None and sha256(out / name) != files[name]:
            raise ExportError(f"{out / name}: changed since nlc export wrote it; not replaced")
    if not force:
        raise ExportError(f"{out}: holds an earlier export; --force replaces it")
    return {name: digest for name, digest in files.items() if name in names}


def _leftover(name: str, files) -> bool:
    """A temporary file a killed export left (`nlc.files.write_file`'s `.NAME.*.tmp`)."""
    return name.endswith(".tmp") and any(
        name.startswith(f".{known}.") for known in [MANIFEST, *files]
    )


def source(run: Path, path: Path) -> Path:
    """`path`, a file of the run: it must lie inside the run folder once symbolic links are
    resolved (a link out of it is refused, never followed) and be a regular file."""
    from nlc.files import is_inside

    if not is_inside(path, run):
        raise ExportError(f"{path}: leads out of the run folder {run} (a symbolic link?)")
    if not path.is_file():
        raise ExportError(f"{path}: not a regular file")
    return path


def run_files(run: Path) -> None:
    """Every file export may read lies inside the run (checked before anything is loaded):
    the code and checkpoint folders, their files, the tokenizer."""
    from nlc.files import is_inside

    paths = []
    for name in ("code", "ckpt"):
        folder = run / name
        paths.append(folder)
        if folder.is_dir() and is_inside(folder, run):
            paths += sorted(folder.iterdir())
    paths.append(run / "tokenizer.json")
    for path in paths:
        if (path.exists() or path.is_symlink()) and not is_inside(path, run):
            raise ExportError(
                f"{path}: leads out of the run folder {run} (a symbolic link?); not read"
            )


def header_of(run: Path) -> dict[str, str]:
    """The safetensors header of the checkpoint's weights (the current file, else the one
    saved before: the pair `load_run` fell back on)."""
    from nlc_runtime.training.checkpoint import CheckpointError, read_metadata

    first = None
    for name in ("model.safetensors", "model.prev.safetensors"):
        path = run / "ckpt" / name
        if path.exists():
            try:
                return read_metadata(path)
            except CheckpointError as err:
                first = first or err
    raise ExportError(str(first) if first else f"{run / 'ckpt'}: no checkpoint here")


def spec_of(run: Path, header: dict[str, str], config: dict) -> str:
    """The spec the weights were trained with (the checkpoint header's), refusing a run folder
    whose code says otherwise: code/spec.yaml edited, or model.py's Config not the header's."""
    code_spec = run / "code" / "spec.yaml"
    spec = header.get("nlc_spec")
    if spec is None:  # a checkpoint from before the header held the spec
        return source(run, code_spec).read_text(encoding="utf-8")
    if code_spec.exists():
        try:
            text = source(run, code_spec).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        if text != spec:
            raise ExportError(
                f"{code_spec}: differs from the spec the checkpoint was trained with (its "
                "header); the run folder was edited after training: restore it"
            )
    if "nlc_config" in header:
        try:
            saved = json.loads(header["nlc_config"])
        except ValueError:
            saved = None
        if not isinstance(saved, dict) or _shape(saved) != _shape(config):
            raise ExportError(
                f"{run / 'code' / 'model.py'}: its Config is not the one the checkpoint was "
                "trained with (its header); the run folder was edited after training"
            )
    return spec


# Config fields that choose how the model runs, not what it is: `nlc train --recompute` and
# `--schedule` save them in the header, and model.py's defaults may differ
EXECUTION = ("impl", "schedule", "recompute")


def _shape(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in EXECUTION}


def export(run: Path, out: Path, force: bool = False) -> list[Path]:
    """Write the export; the paths written, in order."""
    from nlc_runtime.training.files import file_sha256 as sha256
    from safetensors.torch import save_file

    from nlc.files import write_file
    from nlc.train.runfolder import RunError, load_run

    earlier = check_out(out, run, force)
    if run.is_dir():
        run_files(run)
    try:
        loaded = load_run(run)
    except RunError as err:
        raise ExportError(str(err)) from None
    config = dataclasses.asdict(loaded.config)
    header = header_of(run)
    spec = spec_of(run, header, config)
    meta = {"nlc_config": json.dumps(config, sort_keys=True), "nlc_spec": spec, "format": "pt"}
    weights = {k: v.detach().clone().contiguous() for k, v in loaded.model.state_dict().items()}

    contents = {  # name -> bytes, or a function writing the file it is given
        "model.safetensors": lambda tmp: save_file(weights, tmp, metadata=meta),
        "config.json": json.dumps(config, indent=2, sort_keys=True) + "\n",
        "spec.yaml": spec,
    }
    for name in ("model.py", "sample.py"):
        if (run / "code" / name).exists():  # a run compiled before sample.py has none
            contents[name] = source(run, run / "code" / name).read_bytes()
    if (run / "tokenizer.json").exists():
        contents["tokenizer.json"] = source(run, run / "tokenizer.json").read_bytes()

    # the manifest first names every file about to be written (a killed export leaves a folder
    # the next one recognises), last their hashes
    pending = {**earlier, **{name: None for name in contents}}
    write_file(out / MANIFEST, json.dumps({"files": pending}, indent=2) + "\n", inside=out)
    written, digests = [], {}
    for name in ["model.safetensors", "config.json", *FILES, "tokenizer.json"]:
        if name in contents:
            written.append(write_file(out / name, contents[name], inside=out))
            digests[name] = sha256(out / name)
    for name in earlier:  # what the earlier export wrote and this one does not
        if name not in contents:
            (out / name).unlink(missing_ok=True)
    for path in out.iterdir():
        if _leftover(path.name, pending) and path.is_file():
            path.unlink(missing_ok=True)
    write_file(out / MANIFEST, json.dumps({"files": digests}, indent=2) + "\n", inside=out)
    return written
