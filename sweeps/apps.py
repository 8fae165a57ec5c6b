from django.apps import AppConfig


class SweepsConfig(AppConfig):
    name = "sweeps"

    def ready(self) -> None:
        # The controller wakes on run events (see sweeps.triggers).
        from sweeps import triggers

        triggers.connect()
