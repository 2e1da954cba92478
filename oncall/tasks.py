"""Thin Celery tasks of on-call, run by beat (settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.utils import timezone

from . import current


@shared_task(name="oncall.current_refresh", ignore_result=True)
def current_refresh() -> int:
    """Safe to run twice: an answer is stored only at the version it was worked out from."""
    return current.refresh(at=timezone.now())
