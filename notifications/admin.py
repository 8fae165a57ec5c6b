from __future__ import annotations

from django.contrib import admin

from notifications.models import Delivery, Notification, Subscription


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "channel", "status", "attempts", "response_code", "created_at", "sent_at"]
    list_filter = ["status", "channel__kind"]
    readonly_fields = [f.name for f in Delivery._meta.fields]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "user", "event", "run", "title", "created_at", "read_at"]
    list_filter = ["event", "level"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "user", "experiment", "events"]
