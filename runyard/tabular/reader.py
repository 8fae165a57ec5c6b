"""Streaming a tabular dataset's files as typed Arrow record batches, its steps applied.

pyarrow does the parsing (``pyarrow.csv.open_csv``, ``ParquetFile.iter_batches``,
``pyarrow.json.open_json``), one block at a time, so memory stays bounded by the block
size whatever the file size; ``take`` stops reading as soon as it has its rows. The
server (preview, profile, registration) and the SDK (``to_pandas_dataframe``, in a run
or on a notebook) share this module, so a dataset reads the same everywhere.

Bad input raises ``TabularError`` naming the file, the line (1-based, the header
counting as line 1) and the column where pyarrow or the decoder says it failed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.tabular.definition import (
    ENCODINGS,
    Column,
    ColumnType,
    Condition,
    Definition,
    DefinitionError,
    ParseOptions,
    Step,
)

if TYPE_CHECKING:
    import pyarrow as pa

BLOCK_SIZE = 4 << 20  # bytes parsed at a time: bounds memory per open file
SAMPLE_SIZE = 1 << 20  # bytes of each file that type inference and validation look at
PATH_COLUMN = "Path"


def require(package: str) -> Any:
    """Import ``package`` (pyarrow or pandas) or say which one to install."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(
            f"Tabular datasets need the '{package.split('.')[0]}' package: pip install "
            f"{'pandas pyarrow' if package == 'pandas' else 'pyarrow'}"
        ) from None


class TabularError(ValueError):
    """A file that does not parse under the definition: where, and why."""

    def __init__(self, message: str, file: str, line: int | None = None, column: str | None = None) -> None:
        where = f"{file}" + (f", line {line}" if line else "") + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")
        self.reason = message
        self.file = file
        self.line = line
        self.column = column


@dataclass(frozen=True)
class SourceFile:
    """A file of the dataset: its path in the dataset (shown in errors) and on disk."""

    rel: str
    path: Path


def arrow_type(kind: ColumnType) -> pa.DataType:
    pa = require("pyarrow")
    return {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "datetime": pa.timestamp("us"),
    }[kind]


def column_type_of(dtype: pa.DataType) -> ColumnType:
    pa = require("pyarrow")
    t = pa.types
    if t.is_boolean(dtype):
        return "bool"
    if t.is_integer(dtype):
        return "int"
    if t.is_floating(dtype) or t.is_decimal(dtype):
        return "float"
    if t.is_timestamp(dtype) or t.is_date(dtype):
        return "datetime"
    return "string"


# ---- errors ---------------------------------------------------------------------------
_COLUMN_INDEX = re.compile(r"column #(\d+)")


def _decode_problem(path: Path, encoding: str, limit: int | None = None) -> tuple[int, int, str] | None:
    """(line, byte column, reason) of the first bytes that do not decode, scanning in
    bounded chunks; None when the whole file decodes."""
    import codecs

    decoder = codecs.getincrementaldecoder(ENCODINGS[encoding])()
    line, offset = 1, 0
    with path.open("rb") as fh:
        for raw in iter(lambda: fh.readline(1 << 20), b""):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                return line, offset + exc.start + 1, f"bytes do not decode as {encoding} ({exc.reason})"
            offset = 0 if raw.endswith(b"\n") else offset + len(raw)
            line += raw.endswith(b"\n")
            if limit is not None and fh.tell() >= limit:
                return None
    return None


def _locate(src: SourceFile, parse: ParseOptions, wanted: int, column: int | None, value: str | None) -> int | None:
    """The line of the first row whose field count is not ``wanted`` (or whose field
    ``column`` equals ``value``): pyarrow's messages lack it. Only on the error path."""
    import csv

    with src.path.open(encoding=ENCODINGS[parse.encoding], errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter=parse.separator, quoting=csv.QUOTE_MINIMAL if parse.quoting else csv.QUOTE_NONE)
        for row in rows:
            if rows.line_num == 1 and parse.header:
                continue
            if value is None and len(row) != wanted:
                return rows.line_num
            if value is not None and column is not None and column < len(row) and row[column] == value:
                return rows.line_num
    return None


def _json_line(src: SourceFile) -> int | None:
    import json

    with src.path.open(encoding="utf-8", errors="replace") as fh:
        for number, text in enumerate(fh, 1):
            if text.strip():
                try:
                    json.loads(text)
                except ValueError:
                    return number
    return None


_EXPECTED = re.compile(r"Expected (\d+) columns, got (\d+)")
_INVALID = re.compile(r"invalid value '(.*)'")


def _translate(exc: Exception, src: SourceFile, parse: ParseOptions, names: Sequence[str]) -> TabularError:
    """pyarrow's message -> file/line/column."""
    text = str(exc).strip().splitlines()[0]
    if "UTF8" in text or "decode" in text.lower() or isinstance(exc, UnicodeDecodeError):
        found = _decode_problem(src.path, parse.encoding) if parse.format == "delimited" else None
        if found:
            return TabularError(f"{found[2]} at byte {found[1]}", src.rel, found[0])
        return TabularError(f"bytes do not decode as {parse.encoding}", src.rel)
    col = _COLUMN_INDEX.search(text)
    index = int(col.group(1)) if col else None
    column = names[index] if index is not None and index < len(names) else None
    reason = re.sub(r"^(In CSV column #\d+: )?(Row #\d+: )?(CSV (parse|conversion) error( to \w+)?: )?", "", text)
    line = None
    if parse.format == "delimited":
        expected, invalid = _EXPECTED.search(text), _INVALID.search(text)
        if expected:
            line = _locate(src, parse, int(expected.group(1)), None, None)
            reason = f"expected {expected.group(1)} fields, found {expected.group(2)}"
        elif invalid:
            line = _locate(src, parse, len(names), index, invalid.group(1))
    if parse.format == "json_lines":
        line = _json_line(src)
        reason = re.sub(r"^JSON parse error: | in row \d+$", "", text)
    if "conversion error to" in text:
        wanted = text.split("conversion error to ")[1].split(":")[0]
        reason = f"cannot read as {wanted}: {reason}"
    return TabularError(reason, src.rel, line, column)


# ---- per-format readers ---------------------------------------------------------------
def _csv_reader(
    src: SourceFile, parse: ParseOptions, columns: Sequence[Column] | None, block: int, stream: Any = None
) -> Any:
    csv = require("pyarrow.csv")
    names = [c.name for c in columns] if columns is not None else None
    read = csv.ReadOptions(
        block_size=block,
        encoding=ENCODINGS[parse.encoding],
        column_names=names if names is not None else None,
        skip_rows=1 if (parse.header and names is not None) else 0,
        autogenerate_column_names=not parse.header and names is None,
    )
    opts = csv.ParseOptions(
        delimiter=parse.separator,
        quote_char='"' if parse.quoting else False,
        newlines_in_values=parse.quoting,
    )
    convert = csv.ConvertOptions(
        column_types={c.name: arrow_type(c.type) for c in columns} if columns is not None else None,
        strings_can_be_null=True,
        check_utf8=True,
    )
    return csv.open_csv(stream or str(src.path), read_options=read, parse_options=opts, convert_options=convert)


def _parquet(src: SourceFile) -> Any:
    pa = require("pyarrow")
    try:
        return require("pyarrow.parquet").ParquetFile(str(src.path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise TabularError(f"not a readable Parquet file ({exc})", src.rel) from None


def _header(src: SourceFile, parse: ParseOptions) -> list[str]:
    """The file's column names as written (Column1.. without a header)."""
    pa = require("pyarrow")
    if parse.format == "parquet":
        return list(_parquet(src).schema_arrow.names)
    try:
        reader = _open(src, parse, None, SAMPLE_SIZE)
        names = list(reader.schema.names)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _translate(exc, src, parse, []) from None
    if parse.format == "delimited" and not parse.header:
        names = [f"Column{i + 1}" for i in range(len(names))]
    return names


def _open(
    src: SourceFile, parse: ParseOptions, columns: Sequence[Column] | None, block: int, stream: Any = None
) -> Any:
    if parse.format == "delimited":
        return _csv_reader(src, parse, columns, block, stream)
    if parse.format == "json_lines":
        pj = require("pyarrow.json")
        schema = None
        if columns is not None:
            pa = require("pyarrow")
            schema = pa.schema([(c.name, arrow_type(c.type)) for c in columns])
        return pj.open_json(
            stream or str(src.path),
            read_options=pj.ReadOptions(block_size=block),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    raise AssertionError(parse.format)


def _file_batches(
    src: SourceFile, definition: Definition, block: int, progress: Callable[[int], None] | None
) -> Iterator[pa.RecordBatch]:
    """The file's rows with the definition's column names and types."""
    pa = require("pyarrow")
    parse, columns = definition.parse, list(definition.columns)
    names = [c.name for c in columns]
    found = _header(src, parse)
    if found != names:
        missing = [n for n in names if n not in found]
        extra = [n for n in found if n not in names]
        detail = (f"lacks {', '.join(missing)}" if missing else "") + (
            ("; " if missing else "") + f"has extra {', '.join(extra)}" if extra else ""
        )
        raise TabularError(
            f"its columns differ from the dataset's ({detail or 'another order'}): "
            f"expected {', '.join(names)}, found {', '.join(found)}",
            src.rel,
            1 if parse.format == "delimited" and parse.header else None,
            (missing or extra or [""])[0] or None,
        )
    if parse.format == "parquet":
        schema = pa.schema([(c.name, arrow_type(c.type)) for c in columns])
        pf = _parquet(src)
        done, size, total = 0, src.path.stat().st_size, max(1, pf.metadata.num_rows)
        for batch in pf.iter_batches(batch_size=65536):
            for i, col in enumerate(columns):
                try:
                    batch.column(i).cast(schema.field(i).type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise TabularError(f"cannot read as {col.type}: {exc}", src.rel, None, col.name) from None
            yield pa.RecordBatch.from_arrays(
                [batch.column(i).cast(schema.field(i).type) for i in range(len(columns))], schema=schema
            )
            done += batch.num_rows
            if progress:
                progress(size * done // total)
        return
    try:
        with pa.OSFile(str(src.path)) as stream:
            reader = _open(src, parse, columns, block, stream)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                if progress:
                    progress(stream.tell())  # pyarrow reads ahead: a block or two early
                yield batch
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _translate(exc, src, parse, names) from None


def _shifted(progress: Callable[[int], None], base: int, done: int) -> None:
    progress(base + done)


def source_batches(
    files: Sequence[SourceFile],
    definition: Definition,
    block: int = BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Every file's rows in path order (plus ``Path`` when ``include_path``), no steps yet.
    ``progress`` gets the bytes read so far over all files."""
    pa = require("pyarrow")
    if not definition.columns:
        raise DefinitionError("The dataset's columns are not known yet; infer them first.", "tabular.columns")
    base = 0
    for src in sorted(files, key=lambda f: f.rel):
        report = functools.partial(_shifted, progress, base) if progress else None
        for batch in _file_batches(src, definition, block, report):
            if definition.parse.include_path:
                batch = batch.append_column(PATH_COLUMN, pa.array([src.rel] * batch.num_rows, pa.string()))
            yield batch
        base += src.path.stat().st_size


# ---- inference ------------------------------------------------------------------------
def infer_columns(
    files: Sequence[SourceFile], parse: ParseOptions, overrides: Sequence[Column] = ()
) -> tuple[Column, ...]:
    """Column names from the first file, types from the first ``SAMPLE_SIZE`` bytes of
    each file (an int column in one file and float in another becomes float); every file
    must have the same columns. ``overrides`` win over what was inferred."""
    pa = require("pyarrow")
    if not files:
        raise DefinitionError("A tabular dataset needs at least one file.", "files")
    ordered = sorted(files, key=lambda f: f.rel)
    names: list[str] = []
    kinds: dict[str, ColumnType] = {}
    for src in ordered:
        found = _header(src, parse)
        if not names:
            names = found
        elif found != names:
            missing = [f for n, f in zip(names, found, strict=False) if f != n] or (found[len(names) :] or [""])
            raise TabularError(
                f"its columns differ from {ordered[0].rel}'s: expected {', '.join(names)}, found {', '.join(found)}",
                src.rel,
                1 if parse.format == "delimited" and parse.header else None,
                missing[0] or None,
            )
        sample = _sample_schema(src, parse)
        for name, dtype in zip(names, sample.types, strict=False):
            if pa.types.is_null(dtype):
                continue
            kind = column_type_of(dtype)
            prior = kinds.get(name)
            if prior is None or prior == kind:
                kinds[name] = kind
            elif {prior, kind} == {"int", "float"}:
                kinds[name] = "float"
            else:
                kinds[name] = "string"
    set_types = {c.name: c.type for c in overrides}
    unknown = [n for n in set_types if n not in names]
    if unknown:
        raise DefinitionError(
            f"set_column_types names unknown columns: {', '.join(unknown)} (columns: {', '.join(names)}).",
            "tabular.overrides",
        )
    return tuple(Column(n, set_types.get(n, kinds.get(n, "string"))) for n in names)


def _sample_schema(src: SourceFile, parse: ParseOptions) -> pa.Schema:
    pa = require("pyarrow")
    if parse.format == "parquet":
        return _parquet(src).schema_arrow
    try:
        reader = _open(src, parse, None, SAMPLE_SIZE)
        try:
            schema = reader.read_next_batch().schema
        except StopIteration:
            schema = reader.schema
        if parse.format == "delimited":
            # pyarrow reads undecodable text as binary; the dataset must say its encoding
            found = _decode_problem(src.path, parse.encoding, SAMPLE_SIZE)
            if found:
                raise TabularError(f"{found[2]} at byte {found[1]}", src.rel, found[0])
        return schema
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _translate(exc, src, parse, []) from None


# ---- steps ----------------------------------------------------------------------------
def output_columns(definition: Definition) -> list[Column]:
    """The columns a reader of the dataset sees, after keep/drop steps."""
    cols = list(definition.columns)
    if definition.parse.include_path:
        cols.append(Column(PATH_COLUMN, "string"))
    for step in definition.steps:
        names = [c.name for c in cols]
        unknown = [n for n in step.columns if n not in names]
        if unknown:
            raise DefinitionError(
                f"{step.op} names unknown columns: {', '.join(unknown)} (columns: {', '.join(names)}).",
                "tabular.steps",
            )
        if step.op == "keep_columns":
            cols = [c for c in cols if c.name in step.columns]
        elif step.op == "drop_columns":
            cols = [c for c in cols if c.name not in step.columns]
        for cond in step.conditions:
            if cond.column not in names:
                raise DefinitionError(f"filter names an unknown column '{cond.column}'.", "tabular.steps")
    return cols


def uniform(seed: int, start: int, count: int) -> Any:
    """Uniform [0, 1) numbers for rows ``start .. start+count`` (splitmix64 of the row's
    position and the seed): the same rows are chosen whatever the block boundaries."""
    np = require("numpy")
    z = np.arange(start, start + count, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & (2**64 - 1))
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _mask(step: Step, batch: pa.RecordBatch, start: int) -> Any:
    pa = require("pyarrow")
    pc = require("pyarrow.compute")
    if step.op in ("take_sample", "random_split"):
        chosen = uniform(step.seed, start, batch.num_rows) < step.probability
        return pa.array(chosen if step.side == "first" else ~chosen)
    mask = None
    for cond in step.conditions:
        mask = _and(mask, _condition(cond, batch), pc)
    return pc.fill_null(mask, False)


def _and(a: Any, b: Any, pc: Any) -> Any:
    return b if a is None else pc.and_kleene(a, b)


def _condition(cond: Condition, batch: pa.RecordBatch) -> Any:
    pa = require("pyarrow")
    pc = require("pyarrow.compute")
    col = batch.column(batch.schema.get_field_index(cond.column))
    if cond.comparison == "is_null":
        return pc.is_null(col)
    if cond.comparison == "not_null":
        return pc.is_valid(col)
    try:
        value = pa.scalar(cond.value).cast(col.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DefinitionError(
            f"filter compares column '{cond.column}' ({column_type_of(col.type)}) with {cond.value!r}.",
            "tabular.steps",
        ) from None
    fn = {"==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
          ">=": pc.greater_equal}[cond.comparison]  # fmt: skip
    return fn(col, value)


def _take(count: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    left = count
    if left <= 0:
        return
    for b in batches:
        yield b.slice(0, left)
        left -= b.num_rows
        if left <= 0:
            return  # before pulling the next block: take reads no further than it needs


def _skip(count: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    left = count
    for b in batches:
        if left >= b.num_rows:
            left -= b.num_rows
            continue
        yield b.slice(left)
        left = 0


def _apply(step: Step, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    if step.op == "keep_columns":
        for b in batches:
            yield b.select([n for n in b.schema.names if n in step.columns])
    elif step.op == "drop_columns":
        for b in batches:
            yield b.select([n for n in b.schema.names if n not in step.columns])
    elif step.op == "take":
        yield from _take(step.count, batches)
    elif step.op == "skip":
        yield from _skip(step.count, batches)
    else:
        start = 0
        for b in batches:
            mask = _mask(step, b, start)
            start += b.num_rows
            yield b.filter(mask)


def batches(
    files: Sequence[SourceFile],
    definition: Definition,
    block: int = BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The dataset's rows, every step applied, one Arrow batch at a time."""
    output_columns(definition)  # unknown column names fail before any file is read
    stream: Iterator[pa.RecordBatch] = source_batches(files, definition, block, progress)
    for step in definition.steps:
        stream = _apply(step, stream)
    return (b for b in stream if b.num_rows)


def read_table(files: Sequence[SourceFile], definition: Definition) -> pa.Table:
    pa = require("pyarrow")
    schema = pa.schema([(c.name, arrow_type(c.type)) for c in output_columns(definition)])
    return pa.Table.from_batches(list(batches(files, definition)), schema=schema)


def head(files: Sequence[SourceFile], definition: Definition, count: int) -> pa.Table:
    """The first ``count`` rows: stops reading once it has them."""
    limited = Definition(
        definition.parse, definition.columns, definition.overrides, (*definition.steps, Step("take", count=count))
    )
    return read_table(files, limited)
