"""Celery tasks of datasets: a tabular version's profile."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def profile_version(profile_id: int) -> None:
    """Computes one TabularProfile (see datasets.tabular.profile); errors in the data are
    stored on the row, not raised."""
    from datasets.tabular.services import run_profile

    run_profile(profile_id)
