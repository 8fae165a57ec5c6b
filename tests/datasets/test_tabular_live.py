"""Tabular datasets against the live stack (ASGI server + Celery worker): the profile
task with its progress, the SDK's Azure-style calls, and ``to_pandas_dataframe`` inside a
real run whose environment has pandas and pyarrow from the package index."""

from __future__ import annotations

import io
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from datasets.models import TabularProfile
from runyard import Dataset, Environment, Experiment, ScriptRunConfig, Workspace
from runyard.exceptions import UserErrorException
from runyard.tabular_dataset import DataType
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

ROWS = "".join(f"{i},{'abc'[i % 3]},{i / 10},{'true' if i % 2 else 'false'}\n" for i in range(1000))
CSV = "id,letter,value,odd\n" + ROWS


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


def local_csv(tmp_path: Path, text: str = CSV, name: str = "data.csv") -> Path:
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    (folder / name).write_text(text)
    return folder


def test_profile_is_computed_in_a_task_and_kept(ws: Workspace, world: Any, tmp_path: Path) -> None:
    ds = Dataset.Tabular.from_delimited_files(str(local_csv(tmp_path))).register(ws, f"prof-{uuid.uuid4().hex[:6]}")
    client = world.alice.client
    started = client.post(f"/api/dataset-versions/{ds.version_id}/profile/", {}, format="json")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    done = wait_for(
        lambda: (
            (p := client.get(f"/api/dataset-versions/{ds.version_id}/profile/").json())["status"] in ("done", "failed")
            and p
        ),
        timeout=60,
        what="the profile task",
    )
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0
    result = done["result"]
    assert result["row_count"] == 1000
    cols = {c["name"]: c for c in result["columns"]}
    assert cols["id"]["min"] == 0 and cols["id"]["max"] == 999 and cols["id"]["mean"] == pytest.approx(499.5)
    assert cols["id"]["distinct"] == 1000 and cols["id"]["nulls"] == 0
    assert sum(b["count"] for b in cols["value"]["histogram"]) == 1000 and len(cols["value"]["histogram"]) == 20
    assert cols["letter"]["top_values"][0] == {"value": "a", "count": 334}
    assert cols["odd"]["distinct"] == 2
    # Kept per version: asking again does not queue another task.
    again = client.post(f"/api/dataset-versions/{ds.version_id}/profile/", {}, format="json")
    assert again.json()["status"] == "done"
    assert TabularProfile.objects.filter(version_id=ds.version_id).count() == 1


def test_sdk_reads_types_steps_and_splits(ws: Workspace, tmp_path: Path) -> None:
    folder = local_csv(tmp_path)
    ds = Dataset.Tabular.from_delimited_files(str(folder), set_column_types={"id": DataType.to_float()})
    frame = ds.to_pandas_dataframe()
    assert list(frame.columns) == ["id", "letter", "value", "odd"] and len(frame) == 1000
    assert str(frame["id"].dtype) == "float64" and str(frame["odd"].dtype) == "bool"
    registered = ds.register(ws, f"sdk-{uuid.uuid4().hex[:6]}", description="people")
    got = Dataset.get_by_name(ws, registered.name)
    assert type(got).__name__ == "TabularDataset" and got.version == 1
    assert got.definition.columns[0].type == "float"  # the override was stored with the version
    # Outside a run the SDK downloads the version's files and parses them locally.
    assert got.to_pandas_dataframe().equals(frame)
    assert got.take(5).skip(2).keep_columns(["id"]).to_pandas_dataframe()["id"].tolist() == [2.0, 3.0, 4.0]
    assert got.filter(got["letter"] == "b").head(2)["id"].tolist() == [1.0, 4.0]
    train, test = got.random_split(0.8, seed=42)
    a, b = train.to_pandas_dataframe(), test.to_pandas_dataframe()
    assert len(a) + len(b) == 1000 and set(a["id"]).isdisjoint(set(b["id"]))
    assert got.random_split(0.8, seed=42)[0].to_pandas_dataframe().equals(a)
    sample = got.take_sample(0.1, seed=1).to_pandas_dataframe()
    assert 50 < len(sample) < 150
    csv_files = got.drop_columns("odd").to_csv_files()
    written = Path(csv_files.local_files[0][0]).read_text().splitlines()
    assert written[0] == '"id","letter","value"'
    parquet = pd.read_parquet(got.to_parquet_files().local_files[0][0])
    assert len(parquet) == 1000


def test_register_pandas_dataframe_and_parquet_and_json_lines(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "name": ["a", "b", None]})
    store = ws.get_default_datastore()
    registered = Dataset.Tabular.register_pandas_dataframe(frame, (store, "frames"), f"df-{uuid.uuid4().hex[:6]}")
    assert registered.definition.parse.format == "parquet"
    back = Dataset.get_by_name(ws, registered.name).to_pandas_dataframe()
    assert back["x"].tolist() == [1, 2, 3] and back["name"].tolist()[:2] == ["a", "b"]
    jl = local_csv(tmp_path, '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n', "d.jsonl")
    assert Dataset.Tabular.from_json_lines_files(str(jl)).to_pandas_dataframe()["a"].tolist() == [1, 2]
    bad = local_csv(tmp_path, "a,b\n1,2\n3\n")
    with pytest.raises(UserErrorException, match=r"data.csv, line 3: expected 2 fields, found 1"):
        Dataset.Tabular.from_delimited_files(str(bad))


RUN_SCRIPT = """
from azureml.core import Run
run = Run.get_context()
ds = run.input_datasets["people"]
df = ds.to_pandas_dataframe()
print("type", type(ds).__name__)
print("shape", df.shape)
print("dtypes", ",".join(str(t) for t in df.dtypes))
print("sum", int(df["id"].sum()))
"""


def test_to_pandas_dataframe_inside_a_run(ws: Workspace, tmp_path: Path) -> None:
    ds = Dataset.Tabular.from_delimited_files(str(local_csv(tmp_path)))
    ds = ds.register(ws, f"run-{uuid.uuid4().hex[:6]}")
    env = Environment.from_pip_requirements("tabular-env", _requirements(tmp_path))
    env.register(ws)
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent(RUN_SCRIPT))
    config = ScriptRunConfig(
        str(source), "train.py", arguments=["--data", ds.as_named_input("people")], environment=env
    )
    run = Experiment(ws, "tabular").submit(config)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out, raise_on_error=False)
    text = out.getvalue()
    assert run.get_status() == "Completed", text[-3000:]
    assert "type TabularDataset" in text
    assert "shape (1000, 4)" in text
    assert "dtypes int64,object,float64,bool" in text or "dtypes int64,str,float64,bool" in text
    assert f"sum {sum(range(1000))}" in text


def _requirements(tmp_path: Path) -> str:
    path = tmp_path / "requirements.txt"
    path.write_text("pandas\npyarrow\n")
    return str(path)
