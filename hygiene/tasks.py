"""Thin Celery tasks of registry hygiene, run by beat (settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import services


@shared_task(name="hygiene.review_nudges_send", ignore_result=True)
def review_nudges_send() -> int:
    """Safe to run twice: a project is nudged once per review period (services)."""
    return services.review_nudges_send()
