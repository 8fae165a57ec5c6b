"""Tabular dataset versions through the API (real DB, real files, pyarrow parsing):
each format, type inference and overrides, steps, previews, and bad input naming the
file, line and column."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets.models import DatasetVersion
from runyard.tabular import definition as defs
from runyard.tabular import reader
from tests.datasets.helpers import Part, blobs, create_dataset, folder, post_parts

CSV = "id,name,score,passed,when\n1,ann,3.5,true,2024-01-02 10:00:00\n2,bob,,false,2024-01-03 11:30:00\n3,cy,7,true,\n"


def delimited(**extra: Any) -> dict[str, Any]:
    return {"parse": {"format": "delimited", **extra}}


def register_tabular(client: Any, name: str, parts: list[Part], tabular: dict[str, Any], expect: int = 201) -> Any:
    ds = create_dataset(client, name)
    response = post_parts(client, f"/api/datasets/{ds['id']}/versions/", {"tabular": tabular}, parts)
    assert response.status_code == expect, response.content
    return response.json()


def preview(client: Any, version_id: int, rows: int = 50) -> dict[str, Any]:
    response = client.get(f"/api/dataset-versions/{version_id}/preview/", {"rows": rows})
    assert response.status_code == 200, response.content
    return dict(response.json())


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_delimited_version_infers_types_and_previews(world: Any) -> None:
    client = world.alice.client
    version = register_tabular(client, "people", folder({"a.csv": CSV}), delimited())
    assert version["dataset_type"] == "tabular"
    columns = {c["name"]: c["type"] for c in version["tabular"]["columns"]}
    assert columns == {"id": "int", "name": "string", "score": "float", "passed": "bool", "when": "datetime"}
    shown = preview(client, version["id"])
    assert [c["name"] for c in shown["columns"]] == ["id", "name", "score", "passed", "when"]
    assert shown["rows"] == [
        [1, "ann", 3.5, True, "2024-01-02T10:00:00"],
        [2, "bob", None, False, "2024-01-03T11:30:00"],
        [3, "cy", 7.0, True, None],
    ]
    assert preview(client, version["id"], rows=1)["rows"] == [[1, "ann", 3.5, True, "2024-01-02T10:00:00"]]
    # The definition is stored with the version and shown on it.
    detail = client.get(f"/api/dataset-versions/{version['id']}/").json()
    assert detail["tabular"]["parse"]["format"] == "delimited"


def test_separator_header_encoding_and_several_files(world: Any) -> None:
    latin = "nom;ville\nrené;Orléans\n".encode("latin-1")
    more = "nom;ville\nzoé;Nîmes\n".encode("latin-1")
    version = register_tabular(
        world.alice.client,
        "villes",
        [Part("b.csv", more), Part("a.csv", latin)],
        delimited(separator=";", encoding="iso88591", include_path=True),
    )
    rows = preview(world.alice.client, version["id"])["rows"]
    assert rows == [["rené", "Orléans", "a.csv"], ["zoé", "Nîmes", "b.csv"]]  # files in path order
    headless = register_tabular(
        world.alice.client, "nohead", folder({"x.tsv": "1\tx\n2\ty\n"}), delimited(separator="\t", header=False)
    )
    assert [c["name"] for c in headless["tabular"]["columns"]] == ["Column1", "Column2"]
    assert preview(world.alice.client, headless["id"])["rows"] == [[1, "x"], [2, "y"]]


def test_parquet_and_json_lines_versions(world: Any) -> None:
    table = pa.table({"x": [1, 2, 3], "label": ["a", "b", None]})
    version = register_tabular(
        world.alice.client, "pq", [Part("part-0.parquet", parquet_bytes(table))], {"parse": {"format": "parquet"}}
    )
    assert [(c["name"], c["type"]) for c in version["tabular"]["columns"]] == [("x", "int"), ("label", "string")]
    assert preview(world.alice.client, version["id"])["rows"] == [[1, "a"], [2, "b"], [3, None]]
    lines = "\n".join(json.dumps(r) for r in [{"a": 1, "b": "x"}, {"a": 2.5, "b": None}, {"a": 3, "b": "z"}])
    version = register_tabular(
        world.alice.client, "jl", folder({"d.jsonl": lines + "\n"}), {"parse": {"format": "json_lines"}}
    )
    assert {c["name"]: c["type"] for c in version["tabular"]["columns"]} == {"a": "float", "b": "string"}
    assert preview(world.alice.client, version["id"])["rows"] == [[1.0, "x"], [2.5, None], [3.0, "z"]]


def test_set_column_types_overrides_inference(world: Any) -> None:
    tabular = {**delimited(), "overrides": [{"name": "id", "type": "string"}, {"name": "score", "type": "float"}]}
    version = register_tabular(world.alice.client, "typed", folder({"a.csv": CSV}), tabular)
    columns = {c["name"]: c["type"] for c in version["tabular"]["columns"]}
    assert columns["id"] == "string" and columns["score"] == "float"
    assert preview(world.alice.client, version["id"])["rows"][0][0] == "1"
    bad = {**delimited(), "overrides": [{"name": "nope", "type": "int"}]}
    answer = register_tabular(world.alice.client, "typed2", folder({"a.csv": CSV}), bad, expect=400)
    assert "nope" in answer["tabular.overrides"][0]
    wrong = {**delimited(), "overrides": [{"name": "id", "type": "decimal"}]}
    answer = register_tabular(world.alice.client, "typed3", folder({"a.csv": CSV}), wrong, expect=400)
    assert "decimal" in answer["tabular.overrides[0].type"][0]


def test_steps_are_applied_in_order(world: Any) -> None:
    rows = "n,parity\n" + "".join(f"{i},{'even' if i % 2 == 0 else 'odd'}\n" for i in range(100))
    steps = [
        {"op": "filter", "conditions": [{"column": "parity", "comparison": "==", "value": "even"}]},
        {"op": "skip", "count": 5},
        {"op": "take", "count": 3},
        {"op": "drop_columns", "columns": ["parity"]},
    ]
    version = register_tabular(world.alice.client, "steps", folder({"n.csv": rows}), {**delimited(), "steps": steps})
    shown = preview(world.alice.client, version["id"])
    assert shown["columns"] == [{"name": "n", "type": "int"}]
    assert shown["rows"] == [[10], [12], [14]]
    bad = {**delimited(), "steps": [{"op": "keep_columns", "columns": ["ghost"]}]}
    answer = register_tabular(world.alice.client, "steps2", folder({"n.csv": rows}), bad, expect=400)
    assert "ghost" in answer["tabular.steps"][0]


def test_random_split_is_deterministic_and_complementary(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("n\n" + "".join(f"{i}\n" for i in range(10_000)))
    files = [reader.SourceFile("n.csv", path)]
    base = defs.Definition(columns=(defs.Column("n", "int"),))

    def rows(seed: int, side: str, block: int = reader.BLOCK_SIZE) -> list[int]:
        step = defs.Step("random_split", probability=0.3, seed=seed, side=side)
        return [v for b in reader.batches(files, base.with_step(step), block) for v in b.column(0).to_pylist()]

    first, second = rows(7, "first"), rows(7, "second")
    assert sorted(first + second) == list(range(10_000)) and not set(first) & set(second)
    assert 2700 < len(first) < 3300
    assert rows(7, "first") == first
    assert rows(7, "first", block=4096) == first  # the same rows whatever the block boundaries
    assert rows(8, "first") != first


def test_bad_files_name_the_file_line_and_column(world: Any, dataset_store: Path) -> None:
    client = world.alice.client
    before = blobs(dataset_store)
    short = register_tabular(client, "bad1", folder({"a.csv": "a,b\n1,2\n3\n"}), delimited(), expect=400)
    assert short["files"] == ["a.csv, line 3: expected 2 fields, found 1"]
    mixed = register_tabular(
        client, "bad2", folder({"a.csv": "a,b\n1,2\n", "b.csv": "a,c\n1,2\n"}), delimited(), expect=400
    )
    assert mixed["files"][0].startswith("b.csv, line 1, column 'c': its columns differ from a.csv's")
    latin = register_tabular(
        client, "bad3", [Part("l.csv", "a\nok\ncaf\xe9\n".encode("latin-1"))], delimited(), expect=400
    )
    assert latin["files"][0].startswith("l.csv, line 3: bytes do not decode as utf8")
    jl = register_tabular(
        client, "bad4", folder({"d.jsonl": '{"a": 1}\n{oops\n'}), {"parse": {"format": "json_lines"}}, expect=400
    )
    assert jl["files"][0].startswith("d.jsonl, line 2:")
    junk = register_tabular(
        client, "bad5", folder({"p.parquet": "not parquet"}), {"parse": {"format": "parquet"}}, expect=400
    )
    assert junk["files"][0].startswith("p.parquet:")
    fmt = register_tabular(client, "bad6", folder({"a.csv": "a\n1\n"}), {"parse": {"format": "xlsx"}}, expect=400)
    assert "xlsx" in fmt["tabular.parse.format"][0]
    sep = register_tabular(client, "bad7", folder({"a.csv": "a\n1\n"}), delimited(separator=";;"), expect=400)
    assert sep["tabular.parse.separator"] == ["Must be a single character."]
    # A refused registration leaves no version and no new blobs.
    assert not DatasetVersion.objects.filter(dataset__name__startswith="bad").exists()
    assert blobs(dataset_store) == before


def test_a_value_past_the_inference_sample_names_its_line(world: Any) -> None:
    # The sample (first megabyte) says int; a row past the first block does not parse as one.
    body = "n\n" + "1\n" * 3_000_000 + "x\n"
    version = register_tabular(world.alice.client, "late", folder({"n.csv": body}), delimited())
    assert version["tabular"]["columns"] == [{"name": "n", "type": "int"}]
    assert preview(world.alice.client, version["id"], rows=5)["rows"] == [[1]] * 5  # reads no further
    response = world.alice.client.get(f"/api/dataset-versions/{version['id']}/preview/", {"rows": 1000})
    assert response.status_code == 200  # still within the first rows
    files = [reader.SourceFile("n.csv", Path(world_blob(version["id"])))]
    with pytest.raises(reader.TabularError) as caught:
        reader.read_table(files, defs.from_dict(version["tabular"]))
    assert str(caught.value) == "n.csv, line 3000002, column 'n': cannot read as int64: invalid value 'x'"


def world_blob(version_id: int) -> str:
    from datasets.tabular.services import source_files

    return str(source_files(DatasetVersion.objects.get(pk=version_id))[0].path)


def test_draft_preview_infers_without_storing(world: Any, dataset_store: Path) -> None:
    before = blobs(dataset_store)
    response = post_parts(
        world.alice.client, "/api/datasets/preview/?rows=2", {"tabular": delimited()}, folder({"a.csv": CSV})
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert [c["type"] for c in answer["columns"]] == ["int", "string", "float", "bool", "datetime"]
    assert len(answer["rows"]) == 2 and answer["definition"]["columns"][0] == {"name": "id", "type": "int"}
    assert blobs(dataset_store) == before
    bad = post_parts(
        world.alice.client, "/api/datasets/preview/", {"tabular": delimited()}, folder({"a.csv": "a,b\n1\n"})
    )
    assert bad.status_code == 400 and bad.json()["files"] == ["a.csv, line 2: expected 2 fields, found 1"]


def test_file_versions_do_not_preview_and_rows_are_bounded(world: Any) -> None:
    client = world.alice.client
    ds = create_dataset(client, "plain")
    made = post_parts(client, f"/api/datasets/{ds['id']}/versions/", {}, folder({"a.csv": CSV})).json()
    assert made["dataset_type"] == "file"
    response = client.get(f"/api/dataset-versions/{made['id']}/preview/")
    assert response.status_code == 400 and "file dataset" in response.json()["version"][0]
    tab = register_tabular(client, "rows", folder({"a.csv": CSV}), delimited())
    assert client.get(f"/api/dataset-versions/{tab['id']}/preview/", {"rows": 5000}).status_code == 400
    assert client.get(f"/api/dataset-versions/{tab['id']}/profile/").json()["status"] == "none"
    # Another team sees neither the version nor its preview.
    assert world.bob.client.get(f"/api/dataset-versions/{tab['id']}/preview/").status_code == 404
    assert world.bob.client.get(f"/api/dataset-versions/{tab['id']}/download/", {"path": "a.csv"}).status_code == 404
    got = client.get(f"/api/dataset-versions/{tab['id']}/download/", {"path": "a.csv"})
    assert got.status_code == 200 and b"".join(got.streaming_content).decode() == CSV
