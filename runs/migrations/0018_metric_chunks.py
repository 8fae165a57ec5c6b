"""Scalar metric points move from a row each (runs_metric) to one row per metric and
batch (runs_metricchunk, packed arrays; see runs.metricchunks and runs.metricstore).

Existing scalars are packed per run and metric in logging (id) order, at most
``CHUNK`` points a chunk, one page of rows read at a time, so a big table migrates in
bounded memory; the moved rows are deleted run by run. Every reader returns what it
returned before: values, steps (none stays none), times, and positions (a point
without a step is drawn at its index, which is its position now). Each moved metric's
summary is rebuilt from its points (count, latest, min, max), so the run list's
figures and the chunks agree. A non-finite scalar (PostgreSQL could hold one) becomes
the text point the MLflow API makes of such values today. Lists, rows, images and texts
stay in runs_metric.

Reversible: the chunks unpack into scalar rows again (a metric's scalars then follow its
other points of the same name in id order, where they were interleaved before).
"""

import math

import django.db.models.deletion
from django.db import migrations, models


CHUNK = 5000  # points per chunk and per query
WRITE_CHUNKS = 20  # chunks per INSERT


def _chunk(MetricChunk, run_id, name, first, rows):  # noqa: N803 (a historical model)
    from runs.metricchunks import pack

    packed = pack(name, [r[1] for r in rows], [r[2] for r in rows], [r[3].timestamp() for r in rows])
    last_at = max(r[3] for r in rows)
    top_at = next(r[3] for r in rows if r[3].timestamp() == packed.top_time)
    return MetricChunk(
        run_id=run_id,
        name=name,
        first_position=first,
        last_position=first + packed.count - 1,
        count=packed.count,
        min_value=packed.min_value,
        max_value=packed.max_value,
        value_sum=packed.value_sum,
        last_at=last_at,
        top_step=packed.top_step,
        top_at=top_at,
        top_value=packed.top_value,
        value_bytes=packed.value_bytes,
        step_bytes=packed.step_bytes,
        time_bytes=packed.time_bytes,
    )


def _move_metric(apps, scalars, run_id, name):
    Metric = apps.get_model("runs", "Metric")  # noqa: N806
    MetricChunk = apps.get_model("runs", "MetricChunk")  # noqa: N806
    MetricSummary = apps.get_model("runs", "MetricSummary")  # noqa: N806
    after, position, made = 0, 0, []
    low, high, latest, latest_step, last_at = math.inf, -math.inf, None, None, None
    while True:
        page = list(
            scalars.filter(run_id=run_id, name=name, id__gt=after)
            .order_by("id")
            .values_list("id", "value", "step", "at")[:CHUNK]
        )
        if not page:
            break
        after = page[-1][0]
        rows = [r for r in page if math.isfinite(r[1])]
        for row_id, value, _step, _at in page:
            if not math.isfinite(value):
                Metric.objects.filter(pk=row_id).update(kind="text", value=None, payload=str(value))
        if rows:
            made.append(_chunk(MetricChunk, run_id, name, position, rows))
            position += len(rows)
            low, high = min(low, made[-1].min_value), max(high, made[-1].max_value)
            latest, latest_step = rows[-1][1], rows[-1][2]
            last_at = max(last_at or rows[0][3], made[-1].last_at)
        if len(made) >= WRITE_CHUNKS:
            MetricChunk.objects.bulk_create(made)
            made = []
    MetricChunk.objects.bulk_create(made)
    if position:
        MetricSummary.objects.update_or_create(
            run_id=run_id,
            name=name,
            defaults={
                "latest": latest,
                "latest_step": latest_step,
                "min_value": low,
                "max_value": high,
                "points": position,
            },
            create_defaults={
                "latest": latest,
                "latest_step": latest_step,
                "min_value": low,
                "max_value": high,
                "points": position,
                "updated_at": last_at,
            },
        )


def pack_scalars(apps, schema_editor):
    Metric = apps.get_model("runs", "Metric")  # noqa: N806
    scalars = Metric.objects.filter(kind="scalar", value__isnull=False)
    run_id = 0
    while True:
        run_id = scalars.filter(run_id__gt=run_id).order_by("run_id").values_list("run_id", flat=True).first()
        if run_id is None:
            break
        names = sorted(set(scalars.filter(run_id=run_id).order_by().values_list("name", flat=True).distinct()))
        for name in names:
            _move_metric(apps, scalars, run_id, name)
        scalars.filter(run_id=run_id).delete()


def unpack_chunks(apps, schema_editor):
    from datetime import UTC, datetime

    from runs.metricchunks import steps, times, values

    Metric = apps.get_model("runs", "Metric")  # noqa: N806
    MetricChunk = apps.get_model("runs", "MetricChunk")  # noqa: N806
    for chunk in MetricChunk.objects.order_by("run_id", "name", "first_position").iterator(chunk_size=20):
        Metric.objects.bulk_create(
            (
                Metric(
                    run_id=chunk.run_id,
                    name=chunk.name,
                    kind="scalar",
                    value=v,
                    step=s,
                    at=datetime.fromtimestamp(t, UTC),
                )
                for v, s, t in zip(
                    values(chunk.value_bytes),
                    steps(chunk.step_bytes, chunk.count),
                    times(chunk.time_bytes),
                    strict=True,
                )
            ),
            batch_size=1000,
        )
    MetricChunk.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0017_log_chunk_lines_lz4"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricChunk",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=255)),
                ("first_position", models.PositiveBigIntegerField()),
                ("last_position", models.PositiveBigIntegerField()),
                ("count", models.PositiveIntegerField()),
                ("min_value", models.FloatField()),
                ("max_value", models.FloatField()),
                ("value_sum", models.FloatField()),
                ("last_at", models.DateTimeField(help_text="The latest time among its points.")),
                ("top_step", models.BigIntegerField(help_text="The step of its MLflow-latest point (no step: 0).")),
                ("top_at", models.DateTimeField()),
                ("top_value", models.FloatField()),
                ("value_bytes", models.BinaryField(help_text="float64 little-endian, one per point.")),
                (
                    "step_bytes",
                    models.BinaryField(
                        help_text="int64 little-endian per point (+ a flag byte each when some lack one)."
                    ),
                ),
                ("time_bytes", models.BinaryField(help_text="float64 little-endian unix seconds, one per point.")),
                (
                    "run",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="metric_chunks",
                        to="runs.run",
                    ),
                ),
            ],
            options={
                "ordering": ["run", "name", "first_position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("run", "name", "first_position"), name="metric_chunk_position_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(pack_scalars, unpack_chunks),
    ]
