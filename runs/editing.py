"""Editing a run after submit: its name, description and tags (PATCH /api/runs/{id}/).

Everything else about a run is what ran and stays as it was. Tags sent here replace the
run's tags (the form shows them all); ``POST /tag/`` merges, as Azure's ``run.tag`` does.
Each edit is audited with the fields' before and after values.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers

from audit.services import record
from runs.models import Run
from runs.serializers import STRING_MAP, documented_json


class RunEditSerializer(serializers.Serializer[Any]):
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000, trim_whitespace=False)
    tags = documented_json(STRING_MAP, required=False, help_text="Replaces the run's tags.")
    preemptible = serializers.BooleanField(
        required=False, help_text="The scheduler may stop it for a higher-priority or under-share run; it resumes."
    )

    def validate_tags(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object of tag names to string values.")
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip() or len(key) > 200:
                raise serializers.ValidationError(f"Tag name {key!r} must be 1-200 characters.")
            if item is None:
                item = ""
            if not isinstance(item, (str, int, float, bool)):
                raise serializers.ValidationError(f"Tag '{key}' must have a string value.")
            out[key.strip()] = str(item)
        return out


EDITABLE = ("display_name", "description", "tags", "preemptible")


def edit(run: Run, changes: dict[str, Any], actor: Any) -> Run:
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        diff: dict[str, Any] = {}
        for name in EDITABLE:
            if name in changes and getattr(locked, name) != changes[name]:
                diff[name] = {"from": getattr(locked, name), "to": changes[name]}
                setattr(locked, name, changes[name])
        if diff:
            locked.save(update_fields=list(diff))
            record("runs.run.edited", actor=actor, obj=locked, changes=diff)
    run.refresh_from_db()
    return run
