from django.apps import AppConfig
from django.db.models.signals import post_save


class RunsConfig(AppConfig):
    name = "runs"

    def ready(self) -> None:
        from runs.models import Run
        from runs.summaries import on_run_saved

        post_save.connect(on_run_saved, sender=Run, dispatch_uid="runs.summaries.on_run_saved")
