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
    """The data files of a dataset source, in the dataset's row order."""
    path = Path(source)
    if path.is_file():
        return [path]
    listing = path / "dataset_dict.json"
    if listing.is_file():
        splits = _json(listing).get("splits") or []
        if not splits:
            raise DataError(f"{listing}: lists no splits")
        split = "train" if "train" in splits else splits[0]
        return dataset_files(str(path / split))
    state = path / "state.json"
    if state.is_file():
        names = [f.get("filename") for f in _json(state).get("_data_files", [])]
        files = [path / n for n in names if isinstance(n, str)]
        missing = [f for f in files if not f.is_file()]
        if not files or missing:
            raise DataError(f"{state}: names no data file, or one that is missing ({missing[:1]})")
        return files
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise DataError(f"{source}: no .arrow or .parquet files")
    return files


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable: {err}") from None
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
