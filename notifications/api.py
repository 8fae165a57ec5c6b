"""Notification endpoints: the bell, a user's channels and subscriptions, and the
delivery record for admins. Everything but the delivery list is the caller's own."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import user_pk
from audit.services import record
from config.responses import VALIDATION_ERROR
from notifications.models import Channel, Delivery, Notification, Subscription
from notifications.serializers import (
    ChannelSerializer,
    DeliverySerializer,
    MarkReadSerializer,
    NotificationListSerializer,
    NotificationSerializer,
    SubscriptionSerializer,
)

BELL_SIZE = 50


class _BellSchema(AutoSchema):
    # The bell's list answers one object (the unread count and the newest rows), not an array.
    def _is_list_view(self, serializer: Any = None) -> bool:
        return False


class NotificationViewSet(viewsets.GenericViewSet[Notification]):
    serializer_class = NotificationSerializer
    pagination_class = None
    schema = _BellSchema()

    def get_queryset(self) -> Any:
        return Notification.objects.filter(user_id=user_pk(self.request))

    @extend_schema(responses=NotificationListSerializer)
    def list(self, request: Request) -> Response:
        """The newest notifications and how many are unread (the bell)."""
        rows = self.get_queryset().select_related("run")[:BELL_SIZE]
        unread = self.get_queryset().filter(read_at__isnull=True).count()
        return Response({"unread": unread, "results": NotificationSerializer(rows, many=True).data})

    @extend_schema(request=MarkReadSerializer, responses={200: NotificationListSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"])
    def read(self, request: Request) -> Response:
        """Mark notifications read (all of them without ``ids``)."""
        incoming = MarkReadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        rows = self.get_queryset().filter(read_at__isnull=True)
        if "ids" in incoming.validated_data:
            rows = rows.filter(pk__in=incoming.validated_data["ids"])
        rows.update(read_at=timezone.now())
        return self.list(request)


class _Owned(viewsets.ModelViewSet[Any]):
    """A user's own rows; audited without the write-only values."""

    pagination_class = None
    audit_name = ""

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(user_id=user_pk(self.request))

    def perform_create(self, serializer: Any) -> None:
        obj = serializer.save(user=self.request.user)
        record(f"notifications.{self.audit_name}.created", actor=self.request.user, obj=obj, changes=self._safe(obj))

    def perform_update(self, serializer: Any) -> None:
        obj = serializer.save()
        record(f"notifications.{self.audit_name}.updated", actor=self.request.user, obj=obj, changes=self._safe(obj))

    def perform_destroy(self, instance: Any) -> None:
        record(f"notifications.{self.audit_name}.deleted", actor=self.request.user, obj=instance, changes={})
        instance.delete()

    def _safe(self, obj: Any) -> dict[str, Any]:
        data = self.get_serializer(obj).data
        return {k: v for k, v in data.items() if k not in ("address", "secret")}


class ChannelViewSet(_Owned):
    """Delivery channels: email, Slack-compatible or signed generic webhooks."""

    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    audit_name = "channel"


class SubscriptionViewSet(_Owned):
    """Which run events reach you: of your own runs (no experiment) or of one experiment."""

    queryset = Subscription.objects.all()
    serializer_class = SubscriptionSerializer
    audit_name = "subscription"
    filterset_fields = ["experiment"]


class DeliveryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Delivery]):
    """Every delivery and its outcome (admins)."""

    serializer_class = DeliverySerializer
    permission_classes = [permissions.IsAdminUser]
    queryset = Delivery.objects.select_related("channel__user", "notification").order_by("-created_at", "-id")
    filterset_fields = ["status"]
