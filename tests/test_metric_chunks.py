"""Scalar metric points in chunks (runs.metricchunks + MetricChunk, through runs.metricstore):
the byte format, positions across batches, the readers built on the chunks, and migration
0018 moving row-per-point scalars into chunks and back without a change to any point."""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runs import compare, metricchunks, metricstore
from runs.models import Metric, MetricChunk, MetricSummary
from tests.conftest import World
from tests.factories import make_run

POST = "/api/runs/{}/metrics/"
T0 = 1_780_000_000.25


# ---- the byte format --------------------------------------------------------------------
def test_a_chunk_packs_little_endian_arrays_and_reads_them_back() -> None:
    values, steps, times = [0.5, -1.25, 3.0], [0, 7, 2**63 - 1], [T0, T0 + 1e-6, T0 + 2.5]
    packed = metricchunks.pack("loss", values, steps, times)
    assert packed.count == 3 and len(packed.value_bytes) == 24 and len(packed.step_bytes) == 24
    assert struct.unpack("<3d", packed.value_bytes) == tuple(values)  # the documented layout
    assert struct.unpack("<3q", packed.step_bytes) == tuple(steps)
    assert struct.unpack("<3d", packed.time_bytes) == tuple(times)
    assert metricchunks.values(packed.value_bytes) == values
    assert metricchunks.steps(packed.step_bytes, 3) == steps
    assert metricchunks.times(memoryview(packed.time_bytes)) == times  # PostgreSQL may hand a memoryview
    assert (packed.min_value, packed.max_value, packed.value_sum, packed.last_time) == (-1.25, 3.0, 2.25, T0 + 2.5)
    assert (packed.top_step, packed.top_value) == (2**63 - 1, 3.0)


def test_steps_none_all_or_some_keep_what_was_logged() -> None:
    none = metricchunks.pack("a", [1.0, 2.0], [None, None], [T0, T0])
    assert none.step_bytes == b"" and metricchunks.steps(none.step_bytes, 2) == [None, None]
    some = metricchunks.pack("a", [1.0, 2.0, 3.0], [5, None, -(2**63)], [T0, T0, T0])
    assert len(some.step_bytes) == 3 * 8 + 3  # the int64s, then one flag byte each
    assert metricchunks.steps(some.step_bytes, 3) == [5, None, -(2**63)]
    with pytest.raises(ValueError):
        metricchunks.pack("a", [], [], [])


@pytest.mark.parametrize(
    ("steps", "times", "top"),
    [
        ([1, 3, 2], [T0, T0, T0 + 9], 1),  # the highest step wins over a later time
        ([3, 3, 1], [T0 + 1, T0, T0], 0),  # equal steps: the later time
        ([3, 3, 3], [T0, T0, T0], 2),  # and then the last logged
        ([None, None], [T0 + 1, T0], 0),  # no step counts as 0
        ([None, -1], [T0, T0 + 5], 0),
    ],
)
def test_the_top_point_is_mlflows_latest(steps: list[int | None], times: list[float], top: int) -> None:
    values = [float(i) for i in range(len(steps))]
    packed = metricchunks.pack("a", values, steps, times)
    assert (packed.top_value, packed.top_time) == (values[top], times[top])
    assert packed.top_step == (steps[top] or 0)


# ---- storing and reading -----------------------------------------------------------------
def _post(world: World, run_id: int, columns: dict[str, Any]) -> None:
    answer = world.alice.client.post(POST.format(run_id), {"columns": columns}, format="json")
    assert answer.status_code == 201, answer.content


def test_a_batch_of_ten_metrics_is_ten_rows(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    n = 5000
    _post(
        world,
        run.pk,
        {
            "name": [f"m{i % 10}" for i in range(n)],
            "value": [i * 0.5 for i in range(n)],
            "step": [i // 10 for i in range(n)],
            "time": [T0 + i for i in range(n)],
        },
    )
    rows = list(MetricChunk.objects.filter(run=run).values_list("name", "first_position", "last_position", "count"))
    assert rows == [(f"m{k}", 0, 499, 500) for k in range(10)]
    m3 = metricstore.scalar_points(run.pk, "m3")
    assert [p.value for p in m3] == [i * 0.5 for i in range(3, n, 10)]
    assert [p.step for p in m3] == list(range(500)) and [p.position for p in m3] == list(range(500))
    assert m3[0].at == datetime.fromtimestamp(T0 + 3, UTC)


def test_positions_continue_across_batches_and_number_points_without_a_step(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    _post(world, run.pk, {"name": ["a", "a", "b", "a"], "value": [1.0, 2.0, 9.0, 3.0]})
    _post(world, run.pk, {"name": ["b", "a", "a"], "value": [8.0, 4.0, 5.0], "step": [None, 40, None]})
    chunks = list(MetricChunk.objects.filter(run=run).values_list("name", "first_position", "last_position"))
    assert chunks == [("a", 0, 2), ("a", 3, 4), ("b", 0, 0), ("b", 1, 1)]
    a = metricstore.scalar_points(run.pk, "a")
    assert [(p.position, p.value, p.step) for p in a] == [
        (0, 1.0, None),
        (1, 2.0, None),
        (2, 3.0, None),
        (3, 4.0, 40),
        (4, 5.0, None),
    ]
    # The API keeps the missing steps; charts and compare draw them at their positions.
    assert [p["step"] for p in world.alice.client.get(POST.format(run.pk)).json()["a"]] == [None, None, None, 40, None]
    (series,) = compare.series([run.pk], {"a"}, compare.DEFAULT_POINTS)
    assert (series.steps_json, series.values_json, series.total) == ("[0,1,2,40,4]", "[1,2,3,4,5]", 5)
    summary = MetricSummary.objects.get(run=run, name="a")
    assert (summary.points, summary.latest, summary.latest_step) == (5, 5.0, None)
    # MLflow's get-history pages by position, across the chunks.
    page = metricstore.scalar_points(run.pk, "a", offset=2, limit=2)
    assert [p.value for p in page] == [3.0, 4.0]


def test_a_mixed_batch_keeps_non_scalars_as_rows_and_merges_them_by_time(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    _post(
        world,
        run.pk,
        {
            "name": ["x", "x", "table", "x"],
            "kind": ["scalar", "text", "row", "scalar"],
            "value": [1.0, None, None, 2.0],
            "payload": [None, "nan", {"b": 1, "a": 2}, None],
            "time": [T0, T0 + 1, T0 + 1, T0 + 2],
        },
    )
    assert MetricChunk.objects.filter(run=run).count() == 1
    assert sorted(Metric.objects.filter(run=run).values_list("name", flat=True)) == ["table", "x"]
    x = world.alice.client.get(POST.format(run.pk)).json()["x"]
    assert [(p["kind"], p["value"], p["payload"]) for p in x] == [
        ("scalar", 1.0, None),
        ("text", None, "nan"),
        ("scalar", 2.0, None),
    ]
    assert metricstore.latest_values(run.pk) == {"x": 2.0}  # the later of the scalar and the text
    assert metricstore.last_logged_at(run.pk) == datetime.fromtimestamp(T0 + 2, UTC)


def test_our_own_non_finite_scalars_become_text_points(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    metricstore.store(run, [{"name": "loss", "value": 0.5}, {"name": "loss", "value": math.inf}])
    assert [p.value for p in metricstore.scalar_points(run.pk, "loss")] == [0.5]
    assert [(p.kind, p.payload) for p in metricstore.points(run.pk)["loss"]] == [("scalar", None), ("text", "inf")]


def test_means_and_mlflow_latest_come_from_the_chunk_columns(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    _post(world, run.pk, {"name": ["cpu"] * 3, "value": [10.0, 20.0, 30.0], "step": [5, 9, 1]})
    _post(world, run.pk, {"name": ["cpu", "gpu"], "value": [40.0, 7.0], "step": [9, 0], "time": [T0, T0]})
    from django.db.models import Q

    from runs.models import Run

    found = metricstore.means(Run.objects.filter(pk=run.pk), {"cpu": Q(name="cpu"), "gpu": Q(name="gpu")})
    assert found == {run.pk: {"cpu": 25.0, "gpu": 7.0}}
    latest = {m.name: (m.value, m.step) for m in metricstore.mlflow_latest(run.pk)}
    # Step 9 twice: MLflow's rule takes the later time, the first batch's (stamped now, after T0).
    assert latest == {"cpu": (20.0, 9), "gpu": (7.0, 0)}
    runs = Run.objects.filter(pk=run.pk).annotate(cpu=metricstore.latest_subquery("cpu"))
    assert list(runs.values_list("cpu", flat=True)) == [20.0]


# ---- migration 0018 ----------------------------------------------------------------------
def test_the_migration_packs_existing_scalars_into_chunks_and_back(transactional_db: Any, world: Any) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    run, other = make_run(world.alice.user, world.team_a), make_run(world.alice.user, world.team_a)
    before, after = [("runs", "0017_log_chunk_lines_lz4")], [("runs", "0018_metric_chunks")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    old_metric, old_summary = old.get_model("runs", "Metric"), old.get_model("runs", "MetricSummary")
    t = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    rows = []
    for i in range(12001):  # three chunks of "loss" (5000 points each at most), "acc" in between
        rows.append(old_metric(run_id=run.pk, name="loss", value=i * 0.5, step=i, at=t + timedelta(microseconds=i)))
        if i % 4000 == 0:
            rows.append(old_metric(run_id=run.pk, name="acc", value=i / 12000, at=t + timedelta(seconds=i)))
    rows.append(old_metric(run_id=run.pk, name="kernel", kind="text", payload="rbf", at=t))
    rows.append(old_metric(run_id=run.pk, name="table", kind="row", payload={"z": 1, "a": 2}, at=t))
    rows.append(old_metric(run_id=other.pk, name="loss", value=math.inf, step=1, at=t))
    rows.append(old_metric(run_id=other.pk, name="loss", value=2.0, step=2, at=t + timedelta(seconds=1)))
    old_metric.objects.bulk_create(rows, batch_size=2000)
    old_summary.objects.create(
        run_id=other.pk, name="loss", latest=2.0, latest_step=2, min_value=2.0, max_value=2.0, points=99, updated_at=t
    )

    def as_api(m: Any) -> dict[str, Any]:
        return {"kind": m.kind, "value": m.value, "payload": m.payload, "step": m.step, "at": m.at.isoformat()}

    expected: dict[str, list[dict[str, Any]]] = {}
    for m in rows[:-2]:
        expected.setdefault(m.name, []).append(as_api(m))
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    try:
        assert metricstore.grouped(run.pk) == dict(sorted(expected.items()))
        chunks = MetricChunk.objects.filter(run=run).values_list("name", "first_position", "last_position")
        assert list(chunks) == [("acc", 0, 3), ("loss", 0, 4999), ("loss", 5000, 9999), ("loss", 10000, 12000)]
        summary = MetricSummary.objects.get(run=run, name="loss")
        assert (summary.points, summary.latest, summary.latest_step, summary.min_value, summary.max_value) == (
            12001,
            6000.0,
            12000,
            0.0,
            6000.0,
        )
        assert MetricSummary.objects.get(run=other, name="loss").points == 1  # rebuilt from its points
        (acc,) = compare.series([run.pk], {"acc"}, compare.DEFAULT_POINTS)
        assert acc.steps_json == "[0,1,2,3]"  # no step: drawn at its index, as before
        # The infinity became the text point the MLflow API makes of one today.
        assert [(p["kind"], p["value"], p["payload"]) for p in metricstore.grouped(other.pk)["loss"]] == [
            ("text", None, "inf"),
            ("scalar", 2.0, None),
        ]
        assert sorted(Metric.objects.values_list("name", "kind")) == [
            ("kernel", "text"),
            ("loss", "text"),
            ("table", "row"),
        ]
        # A batch after the migration continues the positions.
        metricstore.store(run, [{"name": "loss", "value": 1.0}])
        assert (
            MetricChunk.objects.filter(run=run, name="loss").order_by("first_position").last().first_position == 12001
        )  # type: ignore[union-attr]

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(before)  # and back: a row per scalar again
        old = executor.loader.project_state(before).apps
        back = old.get_model("runs", "Metric").objects.filter(run_id=run.pk, name="loss").order_by("id")
        assert [as_api(m) for m in back][:12001] == expected["loss"]
        assert len(back) == 12002
        assert (
            not old.get_model("runs", "Metric").objects.filter(run_id=run.pk, name="acc", step__isnull=False).exists()
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


# ---- packed columns (the SDK's body) -----------------------------------------------------
def _b64(code: str, numbers: list[Any]) -> str:
    import base64

    return base64.b64encode(struct.pack(f"<{len(numbers)}{code}", *numbers)).decode()


def test_packed_columns_store_what_the_arrays_would(world: World) -> None:
    from runyard.metrics import encode_batch

    points = [(f"m{i % 3}", i * 0.25, i // 3, T0 + i * 0.001, "scalar", None) for i in range(300)]
    body = json.loads(encode_batch(points))
    assert body["columns"]["value"] == {"f64": _b64("d", [p[1] for p in points])}
    assert body["columns"]["step"] == {"i64": _b64("q", [p[2] for p in points])}
    assert body["columns"]["time"] == {"f64": _b64("d", [p[3] for p in points])}
    as_arrays = {"name": [p[0] for p in points], "value": [p[1] for p in points], "step": [p[2] for p in points]}
    as_arrays["time"] = [p[3] for p in points]
    reads = []
    for columns in (body["columns"], as_arrays):
        run = make_run(world.alice.user, world.team_a)
        _post(world, run.pk, columns)
        reads.append(world.alice.client.get(POST.format(run.pk)).json())
    assert reads[0] == reads[1] and len(reads[0]["m1"]) == 100
    # No step anywhere: no step column; a step beyond 64 bits: a JSON array the server refuses.
    assert "step" not in json.loads(encode_batch([("a", 1.0, None, T0, "scalar", None)]))["columns"]
    assert json.loads(encode_batch([("a", 1.0, 2**64, T0, "scalar", None)]))["columns"]["step"] == [2**64]


@pytest.mark.parametrize(
    ("columns", "errors"),
    [
        ({"value": {"f64": "not base64!"}}, {"value": ["Not valid base64."]}),
        (
            {"value": {"f64": _b64("d", [1.0])}},
            {"value": ["Expected 2 little-endian f64s (16 bytes), one per name; got 8 bytes."]},
        ),
        ({"value": {"i64": _b64("q", [1, 2])}}, {"value": ['A packed value column is {"f64": "<base64>"}.']}),
        ({"value": {"f64": _b64("d", [1.0, math.nan])}}, {"1": {"value": ["A valid number is required."]}}),
        (
            {"value": [1.0, 2.0], "time": {"f64": _b64("d", [T0, 1e300])}},
            {"1": {"time": ["Datetime value out of range."]}},
        ),
    ],
    ids=lambda v: json.dumps(v)[:40],
)
def test_a_bad_packed_column_is_refused_naming_the_field(
    world: World, columns: dict[str, Any], errors: dict[str, Any]
) -> None:
    run = make_run(world.alice.user, world.team_a)
    body = {"columns": {"name": ["a", "b"], **columns}}
    answer = world.alice.client.post(POST.format(run.pk), body, format="json")
    assert answer.status_code == 400 and answer.json() == {"columns": errors}
    assert not metricstore.has_points(run.pk)


def test_the_live_texts_times_are_what_isoformat_gives() -> None:
    import random

    rng = random.Random(7)
    times = [rng.uniform(-6e10, 2.5e11) for _ in range(20000)] + [rng.uniform(1.7e9, 1.8e9) for _ in range(20000)]
    times += [T0, T0 + 0.5, 1_780_000_000.0000005, 1_780_000_000.9999995, -0.5e-6, -1.5e-6, 0.0, 1e-7, -1e-7]
    times += [1.78e9 + k / 1e6 for k in range(0, 2_000_000, 101)]
    assert metricstore.iso_times(times) == [datetime.fromtimestamp(t, UTC).isoformat() for t in times]


def test_concurrent_batches_of_one_metric_take_positions_one_after_the_other(transactional_db: Any, world: Any) -> None:
    """Ranks logging ``loss`` at once: the summaries' upsert serialises their batches, so
    positions stay unique and gapless (on PostgreSQL a row lock, on SQLite the write lock)."""
    import threading

    from django.db import connection
    from django.utils import timezone

    run = make_run(world.alice.user, world.team_a)
    errors: list[BaseException] = []

    def rank(r: int) -> None:
        try:
            for b in range(5):
                n = 200
                batch = metricstore.Columns(["loss"] * n, [float(r)] * n, [b * n + i for i in range(n)], [T0] * n)
                metricstore.store_columns(run, batch, timezone.now())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    spans = list(MetricChunk.objects.filter(run=run, name="loss").values_list("first_position", "last_position"))
    assert spans == [(i * 200, i * 200 + 199) for i in range(20)]
    assert MetricSummary.objects.get(run=run, name="loss").points == 4000
    assert sorted(p.value for p in metricstore.scalar_points(run.pk, "loss")) == sorted([0.0, 1.0, 2.0, 3.0] * 1000)
