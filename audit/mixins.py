"""Audit every write made through the API or the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.forms.models import model_to_dict
from django.http import HttpRequest
from rest_framework.serializers import BaseSerializer

from audit.services import diff, record


def action_name(obj: Model, verb: str) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}.{verb}"


def snapshot(obj: Model) -> dict[str, Any]:
    data = model_to_dict(obj)
    return {
        k: (v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v)) for k, v in data.items()
    }


def record_move(actor: Any, obj: Model, old_team: Any) -> None:
    """An admin moved ``obj`` to another team: one event in the old team's trail (so its
    members see where the object went) besides the ``updated`` one in the new team's."""
    new_team = getattr(obj, "team", None)
    if old_team == new_team:
        return
    record(
        action_name(obj, "moved"),
        actor=actor,
        obj=obj,
        team=old_team,
        changes={"team": [getattr(old_team, "slug", None), getattr(new_team, "slug", None)]},
    )


class AuditedViewSetMixin:
    """Records ``<app>.<model>.created|updated|deleted`` with the changed fields."""

    request: Any

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        obj = serializer.save()
        record(action_name(obj, "created"), actor=self.request.user, obj=obj, changes=diff({}, snapshot(obj)))

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        assert serializer.instance is not None
        before, old_team = snapshot(serializer.instance), getattr(serializer.instance, "team", None)
        obj = serializer.save()
        record(action_name(obj, "updated"), actor=self.request.user, obj=obj, changes=diff(before, snapshot(obj)))
        record_move(self.request.user, obj, old_team)

    def perform_destroy(self, instance: Model) -> None:
        action = action_name(instance, "deleted")
        before = snapshot(instance)
        repr_, team = str(instance), getattr(instance, "team", None)
        instance.delete()
        record(action, actor=self.request.user, object_repr=repr_, team=team, changes=diff(before, {}))


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A ModelAdmin whose saves and deletes go to the audit trail."""

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        verb = "updated" if change else "created"
        record(action_name(obj, verb), actor=request.user, obj=obj, changes=diff(before, snapshot(obj)), via="admin")

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        action, before, repr_ = action_name(obj, "deleted"), snapshot(obj), str(obj)
        super().delete_model(request, obj)
        record(action, actor=request.user, object_repr=repr_, changes=diff(before, {}), via="admin")

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
