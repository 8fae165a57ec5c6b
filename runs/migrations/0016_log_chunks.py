"""Log lines move from one row per line (runs_logline, three indexes) to one row per
stored batch (runs_logchunk, one index); see runs.logstore. Existing lines are packed
into chunks of at most 2000 consecutive seqs of one run, with their rank, stream,
text and time kept, so every reader returns what it returned before."""

import json

import django.db.models.deletion
from django.db import migrations, models

CHUNK = 2000


def _flush(LogChunk, run_id, rows):  # noqa: N803 (a historical model)
    stamps = []
    for row in rows:
        stamp = row[4].isoformat()
        if stamps and stamps[-1][0] == stamp:
            stamps[-1][1] += 1
        else:
            stamps.append([stamp, 1])
    ranks = ",".join(str(r) for r in sorted({row[1] for row in rows}))
    return LogChunk(
        run_id=run_id,
        first_seq=rows[0][0],
        last_seq=rows[-1][0],
        ranks=f",{ranks},",
        stamps=json.dumps(stamps),
        lines=json.dumps([[row[1], row[2], row[3]] for row in rows], ensure_ascii=False),
    )


def pack_lines(apps, schema_editor):
    LogLine = apps.get_model("runs", "LogLine")  # noqa: N806
    LogChunk = apps.get_model("runs", "LogChunk")  # noqa: N806
    run_ids = LogLine.objects.order_by().values_list("run_id", flat=True).distinct()
    for run_id in list(run_ids):
        after, rows, made = 0, [], []
        while True:
            page = list(
                LogLine.objects.filter(run_id=run_id, seq__gt=after)
                .order_by("seq")
                .values_list("seq", "rank", "stream", "text", "at")[:CHUNK]
            )
            for row in page:
                # A chunk's seqs are consecutive: a gap (a batch that failed to store) starts a new one.
                if rows and (len(rows) >= CHUNK or row[0] != rows[-1][0] + 1):
                    made.append(_flush(LogChunk, run_id, rows))
                    rows = []
                rows.append(row)
            if len(made) >= 50 or (not page and made):
                LogChunk.objects.bulk_create(made)
                made = []
            if not page:
                break
            after = page[-1][0]
        if rows:
            LogChunk.objects.bulk_create([_flush(LogChunk, run_id, rows)])


def unpack_chunks(apps, schema_editor):
    LogLine = apps.get_model("runs", "LogLine")  # noqa: N806
    LogChunk = apps.get_model("runs", "LogChunk")  # noqa: N806
    for chunk in LogChunk.objects.order_by("run_id", "first_seq").iterator(chunk_size=20):
        lines = json.loads(chunk.lines)
        seq, start, made = chunk.first_seq, 0, []
        for stamp, count in json.loads(chunk.stamps):
            at = models.DateTimeField().to_python(stamp)
            for rank, stream, text in lines[start : start + count]:
                made.append(LogLine(run_id=chunk.run_id, seq=seq, rank=rank, stream=stream, text=text, at=at))
                seq += 1
            start += count
        LogLine.objects.bulk_create(made, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0015_scheduling_heads_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="LogChunk",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("first_seq", models.PositiveBigIntegerField()),
                ("last_seq", models.PositiveBigIntegerField()),
                (
                    "ranks",
                    models.TextField(help_text="The ranks with a line here, as ,0,1,-1, (-1: Runyard itself)."),
                ),
                ("stamps", models.TextField(help_text="JSON [[iso time, line count], ...] in line order.")),
                ("lines", models.TextField(help_text="JSON [[rank, stream, text], ...] in seq order.")),
                (
                    "run",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="log_chunks",
                        to="runs.run",
                    ),
                ),
            ],
            options={
                "ordering": ["run", "first_seq"],
                "constraints": [
                    models.UniqueConstraint(fields=("run", "first_seq"), name="log_chunk_first_seq_unique")
                ],
            },
        ),
        migrations.RunPython(pack_lines, unpack_chunks),
        migrations.DeleteModel(name="LogLine"),
    ]
