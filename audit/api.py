"""The audit trail, read-only and filterable."""

from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import serializers, viewsets

from accounts.permissions import is_admin, team_ids
from audit.models import AuditEvent
from config.responses import documented_json


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    changes = documented_json({"type": "object", "additionalProperties": {}}, read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "team",
            "changes",
            "ip",
            "request_id",
            "via",
        ]


class AuditFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name")
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lte")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "team", "since", "until"]


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """Admins see every event; members see their teams' events and their own."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditFilter
    search_fields = ["object_repr", "action", "actor_name"]
    ordering_fields = ["at", "id"]

    queryset = AuditEvent.objects.none()  # the schema generator's model hint; get_queryset scopes it

    def get_queryset(self) -> Any:
        events = AuditEvent.objects.all().order_by("-at", "-id")
        if is_admin(self.request.user):
            return events
        from django.db.models import Q

        return events.filter(Q(team__in=team_ids(self.request)) | Q(actor=self.request.user))
