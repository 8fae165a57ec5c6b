"""The notification API's shapes. Channel addresses and secrets are write-only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.models import Channel, Delivery, Event, Level, Notification, Subscription
from runs.causes import Cause
from runs.models import Experiment


def mask(address: str) -> str:
    """Enough to recognise an address, not to use it: a webhook URL is a credential."""
    if "@" in address and "://" not in address:
        user, _, host = address.partition("@")
        return f"{user[:1]}…@{host}"
    scheme, _, rest = address.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…" if rest else "…"


class ChannelSerializer(serializers.ModelSerializer[Channel]):
    address = serializers.CharField(write_only=True, max_length=1000, help_text="Email address or webhook URL.")
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200, help_text="HMAC key (webhook)."
    )
    address_masked = serializers.SerializerMethodField()
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ["id", "name", "kind", "address", "secret", "address_masked", "has_secret", "created_at"]
        read_only_fields = ["id", "created_at"]

    def get_address_masked(self, channel: Channel) -> str:
        return mask(channel.address)

    def get_has_secret(self, channel: Channel) -> bool:
        return bool(channel.secret)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind") or (self.instance.kind if self.instance else "")
        address = attrs.get("address")
        if address is not None:
            if kind == Channel.Kind.EMAIL:
                serializers.EmailField().run_validation(address)
            elif not address.startswith(("https://", "http://")):
                raise serializers.ValidationError({"address": ["A webhook URL must start with https:// or http://."]})
        if kind == Channel.Kind.WEBHOOK and not (attrs.get("secret") or (self.instance and self.instance.secret)):
            raise serializers.ValidationError({"secret": ["A generic webhook needs a secret to sign its requests."]})
        return attrs


class SubscriptionSerializer(serializers.ModelSerializer[Subscription]):
    experiment = serializers.PrimaryKeyRelatedField(
        queryset=Experiment.objects.all(), allow_null=True, required=False, help_text="None: your own runs."
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), allow_empty=False)
    causes = serializers.ListField(child=serializers.ChoiceField(choices=Cause.choices), required=False)
    channels = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.all(), many=True, required=False)

    class Meta:
        model = Subscription
        fields = ["id", "experiment", "events", "causes", "channels", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_experiment(self, value: Experiment | None) -> Experiment | None:
        from accounts.permissions import team_ids

        request = self.context["request"]
        if value is not None and value.team_id not in team_ids(request):
            raise serializers.ValidationError(f'Invalid pk "{value.pk}" - object does not exist.')
        return value

    def validate_channels(self, value: list[Channel]) -> list[Channel]:
        user = self.context["request"].user
        for channel in value:
            if channel.user_id != user.pk:
                raise serializers.ValidationError(f'Invalid pk "{channel.pk}" - object does not exist.')
        return value


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = ["id", "event", "run", "title", "text", "level", "cause", "created_at", "read_at"]
        read_only_fields = fields


class NotificationListSerializer(serializers.Serializer[Any]):
    unread = serializers.IntegerField()
    results = NotificationSerializer(many=True)


class MarkReadSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Omit to mark every notification read."
    )


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    user = serializers.CharField(source="channel.user.username")
    channel = serializers.CharField(source="channel.name")
    kind = serializers.CharField(source="channel.kind")
    event = serializers.CharField(source="notification.event")
    run = serializers.IntegerField(source="notification.run_id", allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "user",
            "channel",
            "kind",
            "event",
            "run",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=300)
    text = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    level = serializers.ChoiceField(choices=Level.choices, default=Level.INFO)
