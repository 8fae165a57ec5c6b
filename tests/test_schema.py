"""The OpenAPI schema is valid and complete (no generator warnings)."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command


def test_openapi_schema_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/runs/{id}/cancel/" in text and "tokenAuth" in text
