"""Text from a local Hugging Face `datasets` folder, read with pyarrow (the `datasets` extra),
a batch of rows at a time, never whole:

- a `save_to_disk` folder: `state.json` lists its Arrow files (IPC stream format);
- a DatasetDict folder (`dataset_dict.json`): its `train` split (else its first);
- a folder of `.parquet` / `.arrow` files (as a dataset repository holds them), or one file.

Each row's `text` column is one document. The `datasets` library itself is not needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from nlc_runtime.errors import DataError

SUFFIXES = (".arrow", ".parquet")
FIELD = "text"


def is_dataset(source: str | None) -> bool:
    """A `datasets` folder or an Arrow/Parquet file (what `--data` reads with pyarrow)."""
    if source is None:
        return False
    path = Path(source)
    if path.is_file():
        return path.suffix in SUFFIXES
    if not path.is_dir():
        return False
    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        return True
    return any(p.suffix in SUFFIXES for p in path.rglob("*") if p.is_file())


def dataset_files(source: str) -> list[Path]:
    """The data files of a dataset source, in the dataset's row order. Malformed metadata (no
    JSON, fields of the wrong type, files listed that are missing) is a DataError naming the
    file that says so."""
    path = Path(source)
    if path.is_file():
        return [path]
    listing = path / "dataset_dict.json"
    if listing.is_file():
        splits = _json(listing).get("splits")
        if not isinstance(splits, list) or not all(_plain_name(s) for s in splits):
            raise DataError(f"{listing}: 'splits' is not a list of split names")
        if not splits:
            raise DataError(f"{listing}: lists no splits")
        split = "train" if "train" in splits else splits[0]
        if not (path / split).is_dir():
            raise DataError(f"{listing}: lists the split '{split}', but {path / split} is missing")
        return dataset_files(str(path / split))
    state = path / "state.json"
    if state.is_file():
        entries = _json(state).get("_data_files")
        if (
            not isinstance(entries, list)
            or not entries
            or not all(isinstance(e, dict) and _plain_name(e.get("filename")) for e in entries)
        ):
            raise DataError(
                f"{state}: '_data_files' is not a list of {{filename: NAME}} entries naming "
                "the folder's .arrow files"
            )
        files = [path / e["filename"] for e in entries]
        for f in files:
            if not f.exists():
                raise DataError(f"{state}: lists {f.name}, which is missing")
            if not f.is_file():
                raise DataError(f"{state}: lists {f.name}, which is not a regular file")
        return files
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise DataError(f"{source}: no .arrow or .parquet files")
    return files


def _plain_name(name) -> bool:
    """A file or folder name inside the dataset's folder (no path out of it)."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
    )


MAX_JSON = 16 << 20  # bytes of a metadata file (datasets writes a few hundred)


def _json(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_JSON:
            raise DataError(f"{path}: {path.stat().st_size:,} bytes: not dataset metadata")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8
        message = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise DataError(f"{path}: not JSON: {message}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError:
        raise DataError(
            "--data: a datasets folder or .arrow/.parquet file needs pyarrow "
            "(pip install 'nlc[datasets]')"
        ) from None
    return pyarrow


def _batches(pa, path: Path) -> Iterator:
    try:
        if path.suffix == ".parquet":
            yield from pa.parquet.ParquetFile(str(path)).iter_batches(batch_size=1024)
            return
        source = pa.memory_map(str(path))
        try:  # `datasets` writes the IPC stream format; the file format is read too
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(source)
            yield from (reader.get_batch(i) for i in range(reader.num_record_batches))
            return
        yield from reader
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: unreadable: {str(err).splitlines()[0]}") from None


def iter_documents(files: list[Path]) -> Iterator[tuple[Path, list[str]]]:
    """(file, documents of one batch of rows), for every batch of every file."""
    pa = _pyarrow()
    for path in files:
        for batch in _batches(pa, path):
            names = batch.schema.names
            if FIELD not in names:
                raise DataError(f"{path}: no '{FIELD}' column (columns: {', '.join(names)})")
            column = batch.column(names.index(FIELD))
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                raise DataError(f"{path}: column '{FIELD}' holds {column.type}, not strings")
            yield path, [t for t in column.to_pylist() if t]
