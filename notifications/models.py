"""Who is told about which run events, where, and what was sent.

A ``Channel`` is a user's delivery address: an email address, a Slack-compatible
incoming webhook, or a generic webhook signed with HMAC-SHA256. Its URL and secret are
write-only (the API shows them masked). A ``Subscription`` says which events of which
runs a user wants (the runs they submitted, or every run of one experiment) and through
which channels; every matching event also becomes an in-app ``Notification`` (the bell).
Each send to a channel is a ``Delivery``, retried with backoff and kept for admins.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Event(models.TextChoices):
    COMPLETED = "run.completed"
    FAILED = "run.failed"
    CANCELED = "run.canceled"
    SWEEP_FINISHED = "sweep.finished"  # a parent run whose children all ended (a sweep)
    ALERT = "run.alert"  # run.alert(title, text, level) from the script


class Level(models.TextChoices):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Channel(models.Model):
    """Where a user's notifications go besides the bell."""

    class Kind(models.TextChoices):
        EMAIL = "email"
        SLACK = "slack"
        WEBHOOK = "webhook"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(max_length=1000, help_text="Email address, or the webhook URL (write-only).")
    secret = models.CharField(max_length=200, blank=True, help_text="HMAC key of a generic webhook (write-only).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="channel_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Subscription(models.Model):
    """A user's wish to hear of ``events``: of their own runs (no experiment) or of
    every run in ``experiment``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey("runs.Experiment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    events = models.JSONField(default=list, help_text="Event names (notifications.models.Event).")
    # Failed runs only with these causes (empty: any cause).
    causes = models.JSONField(default=list, blank=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="subscriptions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "experiment"], name="subscription_per_user_experiment"),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(experiment__isnull=True), name="subscription_own_runs"
            ),
        ]


class Notification(models.Model):
    """One event told to one user: what the bell lists."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=20, choices=Event.choices)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True)
    level = models.CharField(max_length=5, choices=Level.choices, default=Level.INFO)
    cause = models.CharField(max_length=24, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The bell: a user's unread notifications, newest first.
            models.Index(fields=["user", "read_at", "-created_at"], name="notification_user_unread"),
        ]


class Delivery(models.Model):
    """One send of a notification to a channel, with its outcome."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # gave up after the last retry

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
