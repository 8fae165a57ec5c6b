"""Tabular datasets (``azureml.data.TabularDataset``, ``Dataset.Tabular.*``).

``Dataset.Tabular.from_delimited_files((datastore, 'folder/'))`` (or local files, uploaded
at ``register``) makes a dataset whose definition says how the files parse; ``take``,
``skip``, ``keep_columns`` ... return new datasets with a step added (nothing is read);
``to_pandas_dataframe()`` reads the rows. Parsing is ``runyard.tabular.reader``: the same
code the server previews and profiles with. pandas and pyarrow are imported only when rows
are read; a missing one is named in the error.

Inside a run, ``Run.get_context().input_datasets['train']`` is a TabularDataset over the
run's mounted copy of the version (``RUNYARD_TABULAR_INPUTS`` carries its definition).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.datastore import DataReference, Datastore, collect_files, input_name, upload_in_batches
from runyard.exceptions import UserErrorException
from runyard.tabular import definition as defs
from runyard.tabular import reader

if TYPE_CHECKING:
    from runyard.dataset import DatasetConsumptionConfig, FileDataset
    from runyard.workspace import Workspace


class DataType:
    """Azure's column types for ``set_column_types`` (``DataType.to_float()`` ...)."""

    def __init__(self, kind: defs.ColumnType) -> None:
        self.kind = kind

    @staticmethod
    def to_string() -> DataType:
        return DataType("string")

    @staticmethod
    def to_long() -> DataType:
        return DataType("int")

    @staticmethod
    def to_float(decimal_mark: str = ".") -> DataType:
        return DataType("float")

    @staticmethod
    def to_bool() -> DataType:
        return DataType("bool")

    @staticmethod
    def to_datetime(formats: Any = None) -> DataType:
        return DataType("datetime")

    def __repr__(self) -> str:
        return f"DataType({self.kind!r})"


_TYPE_NAMES = {"str": "string", "string": "string", "int": "int", "long": "int", "float": "float", "bool": "bool",
               "boolean": "bool", "datetime": "datetime"}  # fmt: skip


def _overrides(set_column_types: dict[str, Any] | None) -> tuple[defs.Column, ...]:
    out = []
    for name, kind in (set_column_types or {}).items():
        value = kind.kind if isinstance(kind, DataType) else _TYPE_NAMES.get(getattr(kind, "__name__", str(kind)))
        if value is None:
            raise UserErrorException(
                f"set_column_types['{name}'] = {kind!r}: use DataType.to_string(), to_long(), to_float(), "
                "to_bool() or to_datetime()."
            )
        out.append(defs.Column(str(name), value))  # type: ignore[arg-type]
    return tuple(out)


class FilterExpression:
    """``ds['age'] > 30`` (and ``&`` to require several): the argument of ``filter``."""

    def __init__(self, conditions: tuple[defs.Condition, ...]) -> None:
        self.conditions = conditions

    def __and__(self, other: FilterExpression) -> FilterExpression:
        return FilterExpression(self.conditions + other.conditions)


class ColumnReference:
    def __init__(self, name: str) -> None:
        self.name = name

    def _cmp(self, op: str, value: Any) -> FilterExpression:
        return FilterExpression((defs.Condition(self.name, op, value),))

    def __eq__(self, value: Any) -> FilterExpression:  # type: ignore[override]
        return self._cmp("==", value)

    def __ne__(self, value: Any) -> FilterExpression:  # type: ignore[override]
        return self._cmp("!=", value)

    def __lt__(self, value: Any) -> FilterExpression:
        return self._cmp("<", value)

    def __le__(self, value: Any) -> FilterExpression:
        return self._cmp("<=", value)

    def __gt__(self, value: Any) -> FilterExpression:
        return self._cmp(">", value)

    def __ge__(self, value: Any) -> FilterExpression:
        return self._cmp(">=", value)

    def is_null(self) -> FilterExpression:
        return self._cmp("is_null", None)

    def is_not_null(self) -> FilterExpression:
        return self._cmp("not_null", None)

    __hash__ = None  # type: ignore[assignment]


class TabularDataset:
    """A (possibly unregistered) tabular dataset: a source of files plus a definition."""

    is_tabular = True
    # What DatasetConsumptionConfig.to_input asks of a FileDataset: a tabular one is
    # consumed as its registered version (or its datastore path), never as a file subset.
    _origin: Any = None
    _subset: Any = None
    urls: tuple[str, ...] = ()

    def __init__(
        self,
        definition: defs.Definition,
        datastore_path: tuple[Datastore, str] | None = None,
        local_files: list[tuple[Path, str]] | None = None,
    ) -> None:
        self.definition = definition
        self.datastore_path = datastore_path
        self.local_files = local_files or []
        self.name: str | None = None
        self.version: int | None = None
        self.id: int | None = None
        self.version_id: int | None = None
        self.description = ""
        self.tags: dict[str, str] = {}
        self.workspace: Workspace | None = None
        self._file_paths: list[str] | None = None  # registered: the version's files

    def __repr__(self) -> str:
        if self.name:
            return f"TabularDataset(name={self.name!r}, version={self.version!r})"
        return f"TabularDataset(format={self.definition.parse.format!r}, steps={len(self.definition.steps)})"

    def _derive(self, definition: defs.Definition) -> TabularDataset:
        # A step makes a new, unregistered dataset over the same files (Azure's semantics).
        out = TabularDataset(definition, self.datastore_path, self.local_files)
        out.workspace, out._file_paths, out.version_id = self.workspace, self._file_paths, self.version_id
        return out

    @classmethod
    def _from_version(cls, workspace: Workspace, dataset: dict[str, Any], version: dict[str, Any]) -> TabularDataset:
        ds = cls(defs.from_dict(version.get("tabular") or {}))
        ds.workspace = workspace
        ds.name, ds.id, ds.version, ds.version_id = dataset["name"], dataset["id"], version["version"], version["id"]
        ds.description = version.get("description") or ""
        ds.tags = version.get("tags") or {}
        if version.get("datastore") and version.get("source_path") is not None:
            ds.datastore_path = (Datastore.get(workspace, version["datastore"]), version["source_path"])
        return ds

    @classmethod
    def _local(cls, folder: str, raw: Any) -> TabularDataset:
        ds = cls(defs.from_dict(raw))
        root = Path(folder)
        ds.local_files = collect_files(root) if root.is_dir() else [(root, root.name)]
        return ds

    # ---- lazy steps (Azure's names) -----------------------------------------------------
    def __getitem__(self, column: str) -> ColumnReference:
        return ColumnReference(column)

    def take(self, count: int) -> TabularDataset:
        return self._derive(self.definition.with_step(defs.Step("take", count=int(count))))

    def skip(self, count: int) -> TabularDataset:
        return self._derive(self.definition.with_step(defs.Step("skip", count=int(count))))

    def take_sample(self, probability: float, seed: int | None = None) -> TabularDataset:
        step = defs.Step("take_sample", probability=float(probability), seed=_seed(seed))
        return self._derive(self.definition.with_step(step))

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[TabularDataset, TabularDataset]:
        """Two datasets: about ``percentage`` of the rows, and the rest; the same seed
        splits the same rows the same way."""
        if not 0 < percentage < 1:
            raise UserErrorException("percentage must be between 0 and 1 (exclusive).")
        chosen = _seed(seed)
        first = defs.Step("random_split", probability=float(percentage), seed=chosen, side="first")
        second = replace(first, side="second")
        return self._derive(self.definition.with_step(first)), self._derive(self.definition.with_step(second))

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        names = (columns,) if isinstance(columns, str) else tuple(columns)
        return self._derive(self.definition.with_step(defs.Step("keep_columns", columns=names)))

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        names = (columns,) if isinstance(columns, str) else tuple(columns)
        return self._derive(self.definition.with_step(defs.Step("drop_columns", columns=names)))

    def filter(self, expression: FilterExpression) -> TabularDataset:
        if not isinstance(expression, FilterExpression):
            raise UserErrorException("filter takes an expression such as ds['age'] > 30.")
        return self._derive(self.definition.with_step(defs.Step("filter", conditions=expression.conditions)))

    # ---- reading ------------------------------------------------------------------------
    def _files(self) -> list[reader.SourceFile]:
        if self.local_files:
            return [reader.SourceFile(rel, path) for path, rel in self.local_files]
        if self.workspace is not None and self.version_id is not None:
            return self._download()
        raise UserErrorException(
            "This dataset's files are on a datastore: register it first (ds.register(ws, 'name')); "
            "its rows are then read from the registered version."
        )

    def _download(self) -> list[reader.SourceFile]:
        assert self.workspace is not None and self.version_id is not None
        cache = Path(tempfile.gettempdir()) / "runyard-tabular" / str(self.version_id)
        version = self.workspace.client.get(f"/api/dataset-versions/{self.version_id}/")
        out = []
        for item in version.get("files") or []:
            target = cache / item["path"]
            if not target.exists() or target.stat().st_size != item["size"]:
                target.parent.mkdir(parents=True, exist_ok=True)
                self.workspace.client.download(
                    f"/api/dataset-versions/{self.version_id}/download/", target, {"path": item["path"]}
                )
            out.append(reader.SourceFile(item["path"], target))
        return out

    def _definition(self, files: list[reader.SourceFile]) -> defs.Definition:
        if self.definition.columns:
            return self.definition
        return replace(
            self.definition, columns=reader.infer_columns(files, self.definition.parse, self.definition.overrides)
        )

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        """All the rows as a pandas DataFrame (needs pandas and pyarrow)."""
        reader.require("pandas")
        files = self._files()
        return reader.read_table(files, self._definition(files)).to_pandas()

    def head(self, count: int = 5) -> Any:
        """The first ``count`` rows as a DataFrame; reads no further than it needs."""
        reader.require("pandas")
        files = self._files()
        return reader.head(files, self._definition(files), int(count)).to_pandas()

    def to_csv_files(self, separator: str = ",") -> FileDataset:
        """The rows written as one CSV file; a FileDataset over it (register it to keep it)."""
        csv = reader.require("pyarrow.csv")
        files = self._files()
        out = Path(tempfile.mkdtemp(prefix="runyard-csv-")) / "part-00000.csv"
        csv.write_csv(reader.read_table(files, self._definition(files)), out, csv.WriteOptions(delimiter=separator))
        return _file_dataset(out)

    def to_parquet_files(self) -> FileDataset:
        """The rows written as one Parquet file; a FileDataset over it."""
        pq = reader.require("pyarrow.parquet")
        files = self._files()
        out = Path(tempfile.mkdtemp(prefix="runyard-parquet-")) / "part-00000.parquet"
        pq.write_table(reader.read_table(files, self._definition(files)), out)
        return _file_dataset(out)

    # ---- consumption and registration ---------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        from runyard.dataset import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)  # type: ignore[arg-type]

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input(input_name(self.name or "input")).as_mount(path_on_compute)

    def to_code(self) -> str:
        if self.name:
            return f"Dataset.get_by_name(ws, {self.name!r}, version={self.version!r})"
        return "Dataset.Tabular.from_delimited_files(...)"

    def register(
        self,
        workspace: Workspace,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> TabularDataset:
        """Register as dataset ``name``: the server infers the columns (or answers which
        file, line and column do not parse)."""
        client = workspace.client
        existing = client.first("/api/datasets/", name=name)
        if existing is not None and existing.get("latest_version") and not create_new_version:
            raise UserErrorException(
                f"A dataset named '{name}' already exists; pass create_new_version=True "
                "to register a new version of it."
            )
        if existing is None:
            existing = client.post("/api/datasets/", {"name": name, "description": description or ""})
        endpoint = f"/api/datasets/{existing['id']}/versions/"
        raw = replace(self.definition, columns=()).to_dict()
        if self.datastore_path is not None:
            store, path = self.datastore_path
            body = {"datastore": store.name, "path": path, "description": description or "", "tags": tags or {}}
            version = client.post(endpoint, {**body, "tabular": raw})
        elif self.local_files:
            from runyard.dataset import _upload_version

            fields = {"description": description or "", "tags": json.dumps(tags or {}), "tabular": json.dumps(raw)}
            version = _upload_version(workspace, endpoint, self.local_files, fields, name, True)
        else:
            raise UserErrorException(
                "This dataset has no source to register again (a registered version's files are not on a datastore)."
            )
        registered = TabularDataset._from_version(workspace, existing, version)
        registered.local_files = self.local_files
        return registered


def _seed(seed: int | None) -> int:
    return int(seed) if seed is not None else int.from_bytes(os.urandom(4), "big")


def _file_dataset(path: Path) -> FileDataset:
    from runyard.dataset import FileDataset

    return FileDataset(local_files=[(path, path.name)])


def _source(path: Any) -> tuple[tuple[Datastore, str] | None, list[tuple[Path, str]]]:
    items = path if isinstance(path, list) else [path]
    if len(items) != 1:
        raise UserErrorException("Give one source per dataset: a (datastore, 'path') tuple, or a local file or folder.")
    item = items[0]
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
        return (item[0], str(item[1]).strip("/")), []
    if isinstance(item, DataReference):
        return (item.datastore, item.path_on_datastore), []
    if isinstance(item, (str, os.PathLike)):
        local = Path(item)
        if local.is_dir():
            return None, collect_files(local)
        if local.is_file():
            return None, [(local, local.name)]
        raise UserErrorException(f"No such local file or folder: {local}")
    raise UserErrorException(f"Cannot make a tabular dataset from {item!r}.")


def _make(path: Any, parse: dict[str, Any], set_column_types: dict[str, Any] | None, validate: bool) -> TabularDataset:
    try:
        definition = defs.Definition(parse=defs.parse_options(parse), overrides=_overrides(set_column_types))
    except defs.DefinitionError as exc:
        raise UserErrorException(f"{exc.field.replace('tabular.parse.', '')}: {exc}") from None
    store_path, local = _source(path)
    ds = TabularDataset(definition, store_path, local)
    if validate and local:
        # Azure validates by reading the first rows; locally that is cheap and names the bad file.
        try:
            files = ds._files()
            ds.definition = ds._definition(files)
        except (reader.TabularError, defs.DefinitionError) as exc:
            raise UserErrorException(str(exc)) from None
        except ImportError:
            pass  # without pyarrow here, the server validates at register
    return ds


class TabularDatasetFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(  # noqa: PLR0913 - Azure's signature
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        infer_column_types: bool = True,
        set_column_types: dict[str, Any] | None = None,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        encoding: str = "utf8",
    ) -> TabularDataset:
        has_header = (
            bool(header) if isinstance(header, bool) else str(header).lower() not in ("no_headers", "0", "false")
        )
        ds = _make(
            path,
            {
                "format": "delimited",
                "separator": separator,
                "header": has_header,
                "encoding": encoding,
                "quoting": True,
                "include_path": include_path,
            },
            set_column_types,
            validate,
        )
        if not infer_column_types and ds.definition.columns:
            # Azure keeps every column a string when inference is off (set_column_types still apply).
            set_types = {c.name: c.type for c in ds.definition.overrides}
            cols = tuple(defs.Column(c.name, set_types.get(c.name, "string")) for c in ds.definition.columns)
            ds.definition = replace(ds.definition, columns=cols)
        return ds

    @staticmethod
    def from_parquet_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: dict[str, Any] | None = None,
        partition_format: str | None = None,
    ) -> TabularDataset:
        return _make(path, {"format": "parquet", "include_path": include_path}, set_column_types, validate)

    @staticmethod
    def from_json_lines_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: dict[str, Any] | None = None,
        partition_format: str | None = None,
        invalid_lines: str = "error",
        encoding: str = "utf8",
    ) -> TabularDataset:
        parse = {"format": "json_lines", "include_path": include_path, "encoding": encoding}
        return _make(path, parse, set_column_types, validate)

    @staticmethod
    def register_pandas_dataframe(
        dataframe: Any,
        target: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        show_progress: bool = True,
        row_group_size: int | None = None,
        make_target_path_unique: bool = True,
    ) -> TabularDataset:
        """Write the DataFrame as Parquet to ``target`` = (datastore, 'folder') (or a
        datastore: its root; in a fresh subfolder unless ``make_target_path_unique=False``),
        then register it as tabular dataset ``name``."""
        reader.require("pandas")
        pa = reader.require("pyarrow")
        pq = reader.require("pyarrow.parquet")
        store, folder = (target, "") if isinstance(target, Datastore) else target
        if not isinstance(store, Datastore):
            raise UserErrorException("target must be a datastore or a (datastore, 'folder') tuple.")
        part = str(folder).strip("/")
        if make_target_path_unique or not part:
            part = f"{part}/{uuid.uuid4()}".strip("/")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "part-00000.parquet"
            pq.write_table(pa.Table.from_pandas(dataframe, preserve_index=False), local, row_group_size=row_group_size)
            upload_in_batches(
                store.workspace,
                f"/api/datastores/{store.id}/upload/",
                [(local, local.name)],
                {"target_path": part, "overwrite": "false"},
                f"Uploading {name}",
                show_progress,
            )
        ds = TabularDataset(defs.Definition(parse=defs.ParseOptions(format="parquet")), (store, part))
        return ds.register(store.workspace, name, description, tags, create_new_version=True)


def with_tabular_inputs(paths: dict[str, str]) -> dict[str, Any]:
    """The run's inputs, the tabular ones (``RUNYARD_TABULAR_INPUTS``) as TabularDatasets."""
    tabular = json.loads(os.environ.get("RUNYARD_TABULAR_INPUTS") or "{}")
    return {
        name: TabularDataset._local(path, tabular[name]) if name in tabular else path for name, path in paths.items()
    }
