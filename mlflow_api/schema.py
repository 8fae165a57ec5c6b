"""drf-spectacular hook: the /ajax-api/ copies of MLflow's routes are the same views as
/api/2.0/mlflow/'s, so the schema (and the permission matrix built from it) lists each once."""

from __future__ import annotations

from typing import Any


def drop_ajax_api(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    return [e for e in endpoints if not e[0].startswith("/ajax-api/")]
