"""A tabular dataset's definition: how its files parse and the lazy steps applied to them.

One definition travels three ways: the SDK builds it (``from_delimited_files`` + ``take`` ...),
the server stores it with the version (``DatasetVersion.tabular``) and a run reads it back
(``RUNYARD_TABULAR_INPUTS``). ``to_dict`` / ``from_dict`` is that wire form; ``from_dict``
validates, naming the field, so bad JSON from any client is a clear error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Format = Literal["delimited", "parquet", "json_lines"]
ColumnType = Literal["string", "int", "float", "bool", "datetime"]
FORMATS: tuple[str, ...] = ("delimited", "parquet", "json_lines")
COLUMN_TYPES: tuple[str, ...] = ("string", "int", "float", "bool", "datetime")
STEP_OPS: tuple[str, ...] = ("keep_columns", "drop_columns", "take", "skip", "take_sample", "random_split", "filter")
COMPARISONS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "is_null", "not_null")
# Azure's encoding names (from_delimited_files(encoding=...)) -> Python codec names.
ENCODINGS = {"utf8": "utf-8", "iso88591": "latin-1", "latin1": "latin-1", "ascii": "ascii", "utf16": "utf-16",
             "windows1252": "cp1252", "utf-8": "utf-8", "latin-1": "latin-1", "cp1252": "cp1252"}  # fmt: skip


class DefinitionError(ValueError):
    """A definition that cannot be used; ``field`` names the offending part."""

    def __init__(self, message: str, field: str = "tabular") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ParseOptions:
    """How the files parse. ``separator``/``header``/``encoding``/``quoting`` apply to delimited files."""

    format: Format = "delimited"
    separator: str = ","
    header: bool = True
    encoding: str = "utf8"
    quoting: bool = True  # a quoted field may hold the separator and line breaks
    include_path: bool = False  # add a 'Path' column with each row's file, as Azure does


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType


@dataclass(frozen=True)
class Condition:
    """``column <comparison> value``; a filter step holds several, all of which must hold."""

    column: str
    comparison: str
    value: Any = None


@dataclass(frozen=True)
class Step:
    """One lazy transformation, applied in order while the rows stream."""

    op: str
    columns: tuple[str, ...] = ()
    count: int = 0
    probability: float = 0.0
    seed: int = 0
    # random_split: which side this dataset is ('first' = the `percentage` share).
    side: str = "first"
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Definition:
    parse: ParseOptions = field(default_factory=ParseOptions)
    # Empty until inferred (at registration, or the first read of an unregistered dataset).
    columns: tuple[Column, ...] = ()
    # Types the user set (set_column_types), kept so a re-inference keeps honouring them.
    overrides: tuple[Column, ...] = ()
    steps: tuple[Step, ...] = ()

    def with_step(self, step: Step) -> Definition:
        return replace(self, steps=(*self.steps, step))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise DefinitionError("Must be true or false.", name)


def _int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DefinitionError(f"Must be an integer ≥ {minimum}.", name)
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise DefinitionError("Must be a non-empty string.", name)
    return value


def column_type(value: Any, name: str) -> ColumnType:
    if value not in COLUMN_TYPES:
        raise DefinitionError(f"Unknown column type {value!r}; use one of {', '.join(COLUMN_TYPES)}.", name)
    return value  # type: ignore[no-any-return]


def _columns(raw: Any, name: str) -> tuple[Column, ...]:
    if raw is None:
        return ()
    if isinstance(raw, dict):  # {"age": "int"}: the set_column_types shape
        raw = [{"name": k, "type": v} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise DefinitionError("Must be a list of {name, type}.", name)
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DefinitionError("Must be a list of {name, type}.", f"{name}[{i}]")
        out.append(
            Column(_str(item.get("name"), f"{name}[{i}].name"), column_type(item.get("type"), f"{name}[{i}].type"))
        )
    return tuple(out)


def parse_options(raw: Any) -> ParseOptions:
    if not isinstance(raw, dict):
        raise DefinitionError("Must be an object.", "tabular.parse")
    fmt = raw.get("format", "delimited")
    if fmt not in FORMATS:
        raise DefinitionError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.", "tabular.parse.format")
    separator = raw.get("separator", ",")
    if separator == "\\t":
        separator = "\t"
    if not isinstance(separator, str) or len(separator) != 1:
        raise DefinitionError("Must be a single character.", "tabular.parse.separator")
    encoding = str(raw.get("encoding", "utf8")).lower()
    if encoding not in ENCODINGS:
        raise DefinitionError(
            f"Unknown encoding {encoding!r}; use one of utf8, iso88591, latin1, ascii, utf16, windows1252.",
            "tabular.parse.encoding",
        )
    return ParseOptions(
        format=fmt,
        separator=separator,
        header=_bool(raw.get("header", True), "tabular.parse.header"),
        encoding=encoding,
        quoting=_bool(raw.get("quoting", True), "tabular.parse.quoting"),
        include_path=_bool(raw.get("include_path", False), "tabular.parse.include_path"),
    )


def _condition(raw: Any, name: str) -> Condition:
    if not isinstance(raw, dict):
        raise DefinitionError("Must be {column, comparison, value}.", name)
    comparison = raw.get("comparison")
    if comparison not in COMPARISONS:
        raise DefinitionError(f"Unknown comparison {comparison!r}; use one of {' '.join(COMPARISONS)}.", name)
    value = raw.get("value")
    if comparison not in ("is_null", "not_null") and not isinstance(value, (str, int, float, bool)):
        raise DefinitionError("The value must be a string, number or boolean.", f"{name}.value")
    return Condition(_str(raw.get("column"), f"{name}.column"), comparison, value)


def _step(raw: Any, i: int) -> Step:
    name = f"tabular.steps[{i}]"
    if not isinstance(raw, dict):
        raise DefinitionError("Must be an object with 'op'.", name)
    op = raw.get("op")
    if op not in STEP_OPS:
        raise DefinitionError(f"Unknown step {op!r}; use one of {', '.join(STEP_OPS)}.", f"{name}.op")
    if op in ("keep_columns", "drop_columns"):
        cols = raw.get("columns")
        if not isinstance(cols, list) or not cols:
            raise DefinitionError("Must be a non-empty list of column names.", f"{name}.columns")
        return Step(op, columns=tuple(_str(c, f"{name}.columns") for c in cols))
    if op in ("take", "skip"):
        return Step(op, count=_int(raw.get("count"), f"{name}.count"))
    if op == "filter":
        conds = raw.get("conditions")
        if not isinstance(conds, list) or not conds:
            raise DefinitionError("Must be a non-empty list of conditions.", f"{name}.conditions")
        return Step(op, conditions=tuple(_condition(c, f"{name}.conditions[{j}]") for j, c in enumerate(conds)))
    probability = raw.get("probability")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise DefinitionError("Must be a number from 0 to 1.", f"{name}.probability")
    side = raw.get("side", "first")
    if side not in ("first", "second"):
        raise DefinitionError("Must be 'first' or 'second'.", f"{name}.side")
    return Step(op, probability=float(probability), seed=_int(raw.get("seed", 0), f"{name}.seed"), side=side)


def from_dict(raw: Any) -> Definition:
    """The definition in ``raw`` (the wire form), validated."""
    if not isinstance(raw, dict):
        raise DefinitionError("Must be an object with 'parse'.", "tabular")
    steps = raw.get("steps") or []
    if not isinstance(steps, list):
        raise DefinitionError("Must be a list.", "tabular.steps")
    return Definition(
        parse=parse_options(raw.get("parse") or {}),
        columns=_columns(raw.get("columns"), "tabular.columns"),
        overrides=_columns(raw.get("overrides"), "tabular.overrides"),
        steps=tuple(_step(s, i) for i, s in enumerate(steps)),
    )
