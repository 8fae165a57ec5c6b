"""POST /api/runs/<id>/metrics/: a batch validated in one pass (the serializer's rules,
bad points named by index and field, nothing stored from a bad batch), stored in one
statement, one live message and one ``metrics_stored`` signal per batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from runs import events, metricbatch, metricstore, signals
from runs.models import MetricSummary, Run
from runs.serializers import MetricPointSerializer
from tests.conftest import World
from tests.factories import make_run
from tests.test_events import Watcher

POST = "/api/runs/{}/metrics/"

# Points and whether DRF's MetricPointSerializer takes them: the plain validator must
# agree on every one (and on the value it keeps), so the endpoint's contract is unchanged.
CASES: list[dict[str, Any]] = [
    {"name": "loss", "value": 0.5},
    {"name": "loss", "value": 1},
    {"name": "loss", "value": "2.5"},
    {"name": "loss", "value": True},
    {"name": "loss", "value": "nan"},
    {"name": "loss", "value": "1e999"},
    {"name": "loss", "value": "x" * 1001},
    {"name": "loss", "value": [1]},
    {"name": "loss", "value": None},
    {"name": "loss"},
    {"name": "loss", "value": 1.0, "step": 3},
    {"name": "loss", "value": 1.0, "step": "3"},
    {"name": "loss", "value": 1.0, "step": 3.0},
    {"name": "loss", "value": 1.0, "step": "4.00"},
    {"name": "loss", "value": 1.0, "step": 3.5},
    {"name": "loss", "value": 1.0, "step": True},
    {"name": "loss", "value": 1.0, "step": "x"},
    {"name": "loss", "value": 1.0, "step": None},
    {"name": " padded ", "value": 1.0},
    {"name": 12, "value": 1.0},
    {"name": 1.5, "value": 1.0},
    {"name": True, "value": 1.0},
    {"name": "", "value": 1.0},
    {"name": "   ", "value": 1.0},
    {"name": "n" * 255, "value": 1.0},
    {"name": "n" * 256, "value": 1.0},
    {"name": None, "value": 1.0},
    {"name": ["a"], "value": 1.0},
    {"value": 1.0},
    {"name": "k", "kind": "text", "payload": "rbf"},
    {"name": "k", "kind": "text", "payload": 3},
    {"name": "k", "kind": "text"},
    {"name": "k", "kind": "list", "payload": [1, "a", None]},
    {"name": "k", "kind": "row", "payload": {"b": 1, "a": 2}},
    {"name": "k", "kind": "image", "payload": {"path": "images/k/1.png"}},
    {"name": "k", "kind": "bogus", "value": 1.0},
    {"name": "k", "kind": "", "value": 1.0},
    {"name": "k", "kind": None, "value": 1.0},
    {"name": "k", "kind": "list"},
    {"name": "loss", "value": 1.0, "time": "2026-03-04T05:06:07.123456+00:00"},
    {"name": "loss", "value": 1.0, "time": "2026-03-04T05:06:07Z"},
    {"name": "loss", "value": 1.0, "time": "2026-03-04T07:06:07+02:00"},
    {"name": "loss", "value": 1.0, "time": "2026-03-04T05:06:07"},
    {"name": "loss", "value": 1.0, "time": "2026-03-04 05:06"},
    {"name": "loss", "value": 1.0, "time": "yesterday"},
    {"name": "loss", "value": 1.0, "time": "2026-13-04T05:06:07"},
    {"name": "loss", "value": 1.0, "time": 1700000000},
    {"name": "loss", "value": 1.0, "time": None},
    {"name": "loss", "value": 1.0, "ignored": "extra keys are ignored"},
]


def _plain(point: Any, now: datetime) -> tuple[Any, ...] | None:
    try:
        (parsed,) = metricbatch.parse([point], now)
    except ValidationError:
        return None
    return (parsed.name, parsed.kind, parsed.value, parsed.payload, parsed.step, parsed.at)


def _drf(point: Any, now: datetime) -> tuple[Any, ...] | None:
    serializer = MetricPointSerializer(data=point)
    if not serializer.is_valid():
        return None
    p = serializer.validated_data
    return (p["name"], p["kind"], p.get("value"), p.get("payload"), p.get("step"), p.get("time") or now)


@pytest.mark.parametrize("point", CASES, ids=[json.dumps(c)[:60] for c in CASES])
def test_the_plain_validator_keeps_the_serializers_rules(point: dict[str, Any]) -> None:
    now = timezone.now()
    assert _plain(point, now) == _drf(point, now)


def test_steps_beyond_64_bits_are_refused_not_a_server_error() -> None:
    """The one rule the serializer lacked: the column holds 64 bits."""
    with pytest.raises(ValidationError) as caught:
        metricbatch.parse([{"name": "a", "value": 1.0, "step": 2**63}], timezone.now())
    assert "64 bits" in str(caught.value.detail)
    (ok,) = metricbatch.parse([{"name": "a", "value": 1.0, "step": -(2**63)}], timezone.now())
    assert ok.step == -(2**63)


def test_times_are_kept_in_utc(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    points = [
        {"name": "a", "value": 1.0, "time": "2026-03-04T07:06:07.5+02:00"},
        {"name": "a", "value": 2.0, "time": "2026-03-04T05:06:08"},
    ]
    assert world.alice.client.post(POST.format(run.pk), points, format="json").status_code == 201
    stored = [p.at for p in metricstore.scalar_points(run.pk)]
    assert stored == [datetime(2026, 3, 4, 5, 6, 7, 500000, tzinfo=UTC), datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC)]
    read = world.alice.client.get(POST.format(run.pk)).json()["a"]
    assert [p["at"] for p in read] == ["2026-03-04T05:06:07.500000+00:00", "2026-03-04T05:06:08+00:00"]


def test_a_bad_point_refuses_the_whole_batch_and_names_its_index_and_field(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    points: list[Any] = [{"name": "loss", "value": float(i), "step": i} for i in range(10)]
    points[3] = {"name": "loss", "value": "high", "step": 3}
    points[7] = "not a point"
    answer = world.alice.client.post(POST.format(run.pk), {"points": points}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {
        "points": {
            "3": {"value": ["A valid number is required."]},
            "7": {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]},
        }
    }
    assert not metricstore.has_points(run.pk) and not MetricSummary.objects.filter(run=run).exists()
    not_a_list = world.alice.client.post(POST.format(run.pk), {"points": {"name": "loss"}}, format="json")
    assert not_a_list.status_code == 400 and "Expected a list" in str(not_a_list.json()["points"])


def test_a_batch_is_stored_in_order_with_its_summaries(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    points: list[dict[str, Any]] = []
    for i in range(3000):
        points.append({"name": f"m{i % 3}", "value": float(i % 1000), "step": i // 3})
        if i % 1000 == 0:
            points.append({"name": "table", "kind": "row", "payload": {"z": i, "a": "x"}})
    points.append({"name": "nostep", "value": 5.0})
    answer = world.alice.client.post(POST.format(run.pk), points, format="json")
    assert answer.status_code == 201 and answer.json() == {"stored": len(points)}
    read = world.alice.client.get(POST.format(run.pk)).json()
    assert [p["step"] for p in read["m1"]] == list(range(1000))
    assert [p["value"] for p in read["m1"]] == [float(i % 1000) for i in range(1, 3000, 3)]
    assert [list(p["payload"]) for p in read["table"]] == [["z", "a"]] * 3  # keys in logged order
    assert read["nostep"] == [{**read["nostep"][0], "step": None, "value": 5.0}]
    summary = MetricSummary.objects.get(run=run, name="m2")
    m2 = [p["value"] for p in points if p["name"] == "m2"]
    assert (summary.latest, summary.latest_step, summary.min_value, summary.max_value, summary.points) == (
        m2[-1],
        999,
        min(m2),
        max(m2),
        1000,
    )
    assert (min(m2), max(m2)) == (0.0, 999.0)
    assert not MetricSummary.objects.filter(run=run, name="table").exists()


def test_one_live_message_and_one_signal_per_batch(world: World, django_capture_on_commit_callbacks: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    watcher = Watcher()
    watcher.group = events.group_name(run.pk)
    watcher.loop.run_until_complete(watcher.layer.group_add(watcher.group, watcher.channel))
    batches: list[set[str]] = []

    def on_stored(sender: Any, run: Run, names: set[str], **kwargs: Any) -> None:
        batches.append(names)

    signals.metrics_stored.connect(on_stored, dispatch_uid="test-one-signal-per-batch")
    try:
        points = [{"name": f"m{i % 4}", "value": i * 0.5, "step": i // 4} for i in range(3000)]
        with django_capture_on_commit_callbacks(execute=True):
            assert world.alice.client.post(POST.format(run.pk), points, format="json").status_code == 201
        assert events.flush()
        (message,) = watcher.receive(1)
        assert batches == [{"m0", "m1", "m2", "m3"}]
    finally:
        signals.metrics_stored.disconnect(dispatch_uid="test-one-signal-per-batch")
        watcher.close()
    assert message["type"] == "run.metrics"
    body = json.loads(message["text"])  # what every watcher's websocket receives, as is
    assert body["type"] == "metrics" and len(body["points"]) == 3000
    assert [(p["name"], p["value"], p["step"]) for p in body["points"]] == [
        (p["name"], p["value"], p["step"]) for p in points
    ]
    stored_at = next((p.at for p in metricstore.scalar_points(run.pk)), None)
    assert stored_at is not None and body["points"][0]["at"] == stored_at.isoformat()


# ---- the SDK's columnar body (runs.metricbatch.parse_columns) --------------------------------
def _columnar(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The body ``runyard.metrics.encode_batch`` makes of these points (times in unix seconds)."""
    from runyard.metrics import encode_batch

    raw = [
        (p["name"], p.get("value"), p.get("step"), p["time"], p.get("kind", "scalar"), p.get("payload")) for p in points
    ]
    body: dict[str, Any] = json.loads(encode_batch(raw))
    return body


def test_a_columnar_batch_reads_back_as_the_same_points_as_the_point_objects(world: World) -> None:
    """The SDK's body and the point objects store the same rows, summaries and live text."""
    t0 = 1_780_000_000.0
    points: list[dict[str, Any]] = [
        {"name": f"m{i % 3}", "value": i * 0.25, "step": i // 3, "time": t0 + i * 0.001} for i in range(300)
    ]
    points.append({"name": "table", "kind": "row", "payload": {"z": 1, "a": "x"}, "time": t0 + 1.5})
    points.append({"name": "kernel", "kind": "text", "payload": "rbf", "time": t0 + 2})
    as_objects = [{**p, "time": datetime.fromtimestamp(p["time"], UTC).isoformat()} for p in points]
    scalars_only = _columnar(points[:300])
    assert set(scalars_only["columns"]) == {"name", "value", "step", "time"}  # no kind/payload columns
    mixed = _columnar(points)
    assert set(mixed["columns"]) == {"name", "value", "step", "time", "kind", "payload"}

    reads = []
    for bodies in ([as_objects], [scalars_only, _columnar(points[300:])], [mixed]):
        run = make_run(world.alice.user, world.team_a)
        for body in bodies:
            answer = world.alice.client.post(POST.format(run.pk), body, format="json")
            assert answer.status_code == 201, answer.json()
        summaries = list(
            MetricSummary.objects.filter(run=run)
            .order_by("name")
            .values_list("name", "latest", "latest_step", "min_value", "max_value", "points")
        )
        reads.append((world.alice.client.get(POST.format(run.pk)).json(), summaries))
    assert reads[0] == reads[1] == reads[2]
    series, summaries = reads[0]
    assert [p["step"] for p in series["m1"]] == list(range(100))
    assert series["m1"][0]["at"] == "2026-05-28T20:26:40.001000+00:00"
    assert series["table"][0]["payload"] == {"z": 1, "a": "x"} and list(series["table"][0]["payload"]) == ["z", "a"]
    assert series["kernel"][0]["payload"] == "rbf"
    assert [s[0] for s in summaries] == ["m0", "m1", "m2"]


def test_a_columnar_batch_without_steps_or_times_takes_null_and_now(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    before = timezone.now()
    body = {"columns": {"name": ["a", "a", "b"], "value": [1.0, 2.0, 3.0]}}
    assert world.alice.client.post(POST.format(run.pk), body, format="json").status_code == 201
    rows = [(p.name, p.kind, p.value, p.step, p.at) for ps in metricstore.points(run.pk).values() for p in ps]
    assert [r[:4] for r in rows] == [("a", "scalar", 1.0, None), ("a", "scalar", 2.0, None), ("b", "scalar", 3.0, None)]
    assert all(r[4] >= before for r in rows)


@pytest.mark.parametrize(
    ("columns", "errors"),
    [
        ({"name": ["a", "b"], "value": [1.0, "high"]}, {"1": {"value": ["A valid number is required."]}}),
        ({"name": ["a", " "], "value": [1.0, 2.0]}, {"1": {"name": ["This field may not be blank."]}}),
        (
            {"name": ["a"], "value": [1.0], "step": [2**63]},
            {"0": {"step": ["Ensure this value fits in 64 bits (|step| < 2**63)."]}},
        ),
        (
            {"name": ["a"], "value": [1.0], "time": ["2026-01-01"]},
            {"0": {"time": ["A unix time in seconds is required."]}},
        ),
        ({"name": ["a"], "value": [1.0], "time": [1e300]}, {"0": {"time": ["Datetime value out of range."]}}),
        ({"name": ["a"], "value": [None]}, {"0": {"value": ["A scalar metric needs a value."]}}),
        (
            {"name": ["a"], "kind": ["text"], "payload": [3]},
            {"0": {"payload": ["A text metric needs a string payload."]}},
        ),
        ({"name": ["a"], "kind": ["bogus"], "value": [1.0]}, {"0": {"kind": ['"bogus" is not a valid choice.']}}),
        ({"name": ["a", "b"], "value": [1.0]}, {"value": ["Expected an array of 2 items, one per name."]}),
        ({"value": [1.0]}, {"name": ["An array of names is required."]}),
    ],
    ids=lambda v: json.dumps(v)[:50],
)
def test_a_bad_columnar_batch_is_refused_whole_naming_the_point_and_field(
    world: World, columns: dict[str, Any], errors: dict[str, Any]
) -> None:
    run = make_run(world.alice.user, world.team_a)
    answer = world.alice.client.post(POST.format(run.pk), {"columns": columns}, format="json")
    assert answer.status_code == 400 and answer.json() == {"columns": errors}
    assert not metricstore.has_points(run.pk)


def test_a_columnar_batch_normalises_as_the_point_rules_do() -> None:
    """Off the fast path (numeric strings, padded names, "3.0" steps) each point follows the
    point objects' rules, and the result is the same."""
    now = timezone.now()
    columns = {"name": [" a ", "b"], "value": ["2.5", 1], "step": ["3.0", None], "time": [1_780_000_000, None]}
    batch = metricbatch.parse_columns(columns, now)
    assert batch.points() == metricbatch.parse(
        [
            {"name": " a ", "value": "2.5", "step": "3.0", "time": "2026-05-28T20:26:40+00:00"},
            {"name": "b", "value": 1},
        ],
        now,
    )


def test_a_batch_nobody_watches_builds_no_live_message(world: World) -> None:
    """The publisher asks Redis whether the run's group has members before it builds a
    batch's text; a watcher that joins gets the next batch live."""
    run = make_run(world.alice.user, world.team_a)
    watcher = Watcher()  # on its own group: the run's has no member yet
    try:
        group = events.group_name(run.pk)
        assert not watcher.loop.run_until_complete(events.watched(watcher.layer, group))
        body = {"columns": {"name": ["a"], "value": [1.0], "step": [0]}}
        assert world.alice.client.post(POST.format(run.pk), body, format="json").status_code == 201
        assert events.flush()
        watcher.loop.run_until_complete(watcher.layer.group_add(group, watcher.channel))
        assert watcher.loop.run_until_complete(events.watched(watcher.layer, group))
        body = {"columns": {"name": ["a"], "value": [2.0], "step": [1]}}
        assert world.alice.client.post(POST.format(run.pk), body, format="json").status_code == 201
        assert events.flush()
        (message,) = watcher.receive(1)  # the second batch only: the first had nobody to go to
        assert [p["value"] for p in json.loads(message["text"])["points"]] == [2.0]
        watcher.loop.run_until_complete(watcher.layer.group_discard(group, watcher.channel))
    finally:
        watcher.close()
