"""The Celery application: the executor. Each compute target has its own queue."""

import os

from celery import Celery

from execution import workerboot

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("runyard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The worker's process shape (beat as a thread where allowed, autoscaling): see
# execution.workerboot.
app.steps["worker"].update({workerboot.ThreadedBeat, workerboot.AutoscalePoll})
app.user_options["worker"].add(workerboot.beat_thread_option())
app.conf.worker_autoscaler = "execution.workerboot:Autoscaler"

app.conf.beat_schedule = {
    # Finds runs whose worker died (see execution.tasks.sweep_heartbeats).
    "sweep-heartbeats": {"task": "execution.tasks.sweep_heartbeats", "schedule": 5.0},
    # Queued runs whose dispatch message was lost (see runs.dispatch).
    "sweep-queues": {"task": "execution.tasks.sweep_queues", "schedule": 5.0},
    # Sweeps' deadlines and lost controller events (see sweeps.triggers).
    "sweeps-tick": {"task": "sweeps.tasks.tick", "schedule": 10.0},
}
