"""Thin periodic tasks: call one service, safe to run twice (it claims rows with SKIP LOCKED)."""

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(name="integrations.heartbeats_check", ignore_result=True)
def heartbeats_check() -> int:
    return services.heartbeats_check(now=timezone.now())


@shared_task(name="integrations.inbound_events_prune", ignore_result=True)
def inbound_events_prune() -> int:
    return services.inbound_events_prune(now=timezone.now())


@shared_task(name="integrations.maintenance_windows_release", ignore_result=True)
def maintenance_windows_release() -> int:
    return services.maintenance_windows_release(now=timezone.now())
