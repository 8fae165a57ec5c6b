from django.apps import AppConfig


class StackConfig(AppConfig):
    """The running product: its processes, their supervisor, the one-instance lock, seed data."""

    name = "stack"
    verbose_name = "Runyard stack"
