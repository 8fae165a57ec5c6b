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

from runs import events, metricbatch, signals
from runs.models import Metric, MetricSummary, Run
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
    stored = list(Metric.objects.filter(run=run).order_by("id").values_list("at", flat=True))
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
    assert not Metric.objects.filter(run=run).exists() and not MetricSummary.objects.filter(run=run).exists()
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
    stored_at = Metric.objects.filter(run=run).order_by("id").values_list("at", flat=True).first()
    assert stored_at is not None and body["points"][0]["at"] == stored_at.isoformat()
