"""Read YAML while remembering where every value came from.

PyYAML's plain loaders forget line numbers and silently keep the last of two duplicate keys.
Here the document is composed into nodes, converted to plain Python data by hand, and a
`SourceMap` records the line of every mapping key and list item, so later errors (pydantic
validation, semantic checks, compiler passes) can point at ``FILE:LINE``.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nlc.errors import Diagnostic, SpecError, format_path


@dataclass
class SourceMap:
    """Maps a field path (tuple of keys and list indices) to its 1-based line in `file`."""

    file: str
    lines: dict[tuple, int] = field(default_factory=dict)
    values: int = 0  # values read so far (`MAX_VALUES`)

    def line_of(self, loc: tuple) -> int | None:
        """The line of the longest prefix of `loc` that the document contains."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)

    def error(self, loc: tuple, message: str) -> SpecError:
        return SpecError(self.diagnostic(loc, message))

    def diagnostic(self, loc: tuple, message: str) -> Diagnostic:
        return Diagnostic(self.file, self.line_of(loc), format_path(loc), message)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as ``3e-4`` (YAML 1.1 wants ``3.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


MAX_BYTES = 1 << 20
"""A spec is a few kilobytes; a file over 1 MiB is refused unread."""
MAX_VALUES = 100_000
"""Values in the parsed document: YAML aliases can make a small file expand without bound."""
MAX_DEPTH = 64
"""Nesting of mappings and lists (a spec nests a handful of levels)."""
MAX_NUMBER = 100
"""Characters of one number: Python refuses to read integers of over 4,300 digits, and no
setting of a spec needs a hundred."""

_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _convert(loader: yaml.SafeLoader, node: yaml.Node, loc: tuple, smap: SourceMap) -> Any:
    smap.values += 1
    if smap.values > MAX_VALUES:
        raise smap.error(loc, f"the document expands to over {MAX_VALUES:,} values (YAML aliases?)")
    if len(loc) > MAX_DEPTH:
        where = format_path(loc[:6]) + "..."
        raise SpecError(
            Diagnostic(
                smap.file, smap.line_of(loc), where, f"nested deeper than {MAX_DEPTH} levels"
            )
        )
    smap.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP, _SEQ):
        # converted by hand below, so a tag would be ignored silently (`!!python/object`)
        raise smap.error(loc, f"unsupported YAML tag {node.tag}")
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise smap.error(loc, "mapping keys must be plain scalars")
            if key in out:
                first = smap.lines.get(loc + (key,))
                raise SpecError(
                    Diagnostic(
                        smap.file,
                        key_node.start_mark.line + 1,
                        format_path(loc + (key,)),
                        f"duplicate key '{key}' (first defined on line {first})",
                    )
                )
            smap.lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(loader, value_node, loc + (key,), smap)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, loc + (i,), smap) for i, item in enumerate(node.value)]
    if node.tag in (_INT, _FLOAT) and len(node.value) > MAX_NUMBER:
        raise smap.error(
            loc, f"a number of {len(node.value):,} characters (at most {MAX_NUMBER} are read)"
        )
    try:
        return loader.construct_object(node, deep=True)
    except ValueError as exc:  # `!!int 12x`, a date such as 2020-13-45
        raise smap.error(loc, f"cannot read {node.value[:40]!r}: {exc}") from None


def parse_yaml(text: str, file: str, loc: tuple = (), empty: Any = None) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain data plus a SourceMap; syntax errors become SpecError.
    `loc` is where the text's value goes in a document (a `--set` value: its path, which counts
    towards the nesting limit); `empty` is what an empty text means (None: an error)."""
    smap = SourceMap(file)
    loader = None
    try:
        if len(text) > MAX_BYTES:
            raise SpecError(Diagnostic(file, None, "", f"{len(text):,} characters: at most 1 MiB"))
        loader = _Loader(text)  # the reader refuses NUL and other control characters here
        node = loader.get_single_node()
        if node is None:
            if empty is not None:
                return empty, smap
            raise SpecError(Diagnostic(file, 1, "", "the file is empty; expected a YAML mapping"))
        data = _convert(loader, node, tuple(loc), smap)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise SpecError(
            Diagnostic(file, line, "", f"YAML syntax error: {problem}{context}")
        ) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())  # one line
        raise SpecError(Diagnostic(file, None, "", f"YAML error: {message}")) from None
    except RecursionError:
        raise SpecError(
            Diagnostic(file, None, "", f"nested deeper than {MAX_DEPTH} levels")
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, smap


def parse_value(text: str, label: str, loc: tuple = ()) -> Any:
    """A value given on the command line (`--set PATH=VALUE`), read as a spec file is: the same
    reader, limits and one-line messages, with `label` (the argument) in place of the file
    name and `loc` (PATH) as where it goes. An empty text is the empty string."""
    try:
        return parse_yaml(text, label, loc, empty="")[0]
    except SpecError as err:
        if "\n" in text:  # a value of several lines: its line numbers say where
            raise
        raise SpecError(
            [Diagnostic(d.file, None, d.path, d.message) for d in err.diagnostics]
        ) from None


def read_yaml_file(path: str | Path) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file; unreadable or non-UTF-8 files become SpecError."""
    path = Path(path)
    try:
        info = path.stat()
        if path.is_dir():
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            raise SpecError(Diagnostic(str(path), None, "", "not a regular file"))
        if info.st_size > MAX_BYTES:
            raise SpecError(
                Diagnostic(str(path), None, "", f"{info.st_size:,} bytes: a spec is at most 1 MiB")
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from nlc.presets import names

        hint = f" (nor a preset: {', '.join(names())})" if path.parent == Path(".") else ""
        raise SpecError(Diagnostic(str(path), None, "", f"no such file{hint}")) from None
    except IsADirectoryError:
        raise SpecError(
            Diagnostic(str(path), None, "", "is a directory, expected a YAML file")
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            Diagnostic(str(path), None, "", f"not UTF-8 text (byte {exc.start}): {exc.reason}")
        ) from None
    except OSError as exc:
        raise SpecError(Diagnostic(str(path), None, "", f"cannot read: {exc.strerror}")) from None
    return parse_yaml(text, str(path))
