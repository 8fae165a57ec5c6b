from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    """The worker side: carries out claimed runs (no models of its own)."""

    name = "execution"
    verbose_name = "Run execution (worker side)"
