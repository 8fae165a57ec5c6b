"""PostgreSQL compresses ``LogChunk.lines`` (TOAST) with lz4 instead of pglz where the
server has it (14+, built with lz4): storing a 16k-line chunk cost the server 0.72 µs of
CPU a line with pglz and 0.41 with lz4, at about the same size (bench/RESULTS.md, log
streaming). Rows written before keep their compression; SQLite is untouched."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _set_compression(apps: Any, schema_editor: Any, method: str) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND %s = ANY(enumvals)", [method]
        )
        if cursor.fetchone() is None:  # before 14, or built without lz4
            return
    table = connection.ops.quote_name(apps.get_model("runs", "LogChunk")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN lines SET COMPRESSION {method}")


def lz4(apps: Any, schema_editor: Any) -> None:
    _set_compression(apps, schema_editor, "lz4")


def pglz(apps: Any, schema_editor: Any) -> None:
    _set_compression(apps, schema_editor, "pglz")


class Migration(migrations.Migration):
    dependencies = [("runs", "0016_log_chunks")]

    operations = [migrations.RunPython(lz4, pglz, elidable=True)]
