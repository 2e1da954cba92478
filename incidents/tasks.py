"""Periodic work of IT changes: a thin task that calls one service.

`incidents.due_reminders` runs from beat every minute, `incidents.report_groups_close_quiet`
every five. Reminders are rows with a due time (never
Celery countdowns, which Redis redelivers past its visibility timeout); the service claims them
with SKIP LOCKED and marks them sent in the transaction that writes their notices, so running the
task twice, or on two beats, sends each reminder once.
"""

from celery import shared_task

from . import report_services, services


@shared_task(name="incidents.due_reminders", ignore_result=True)
def due_reminders() -> int:
    return services.change_reminders_send_due()


@shared_task(name="incidents.report_groups_close_quiet", ignore_result=True)
def report_groups_close_quiet() -> int:
    """Close problem-report groups that went quiet, so the next report starts a fresh group (and
    notifies the on-call again) instead of joining a stale one. An UPDATE: safe to run twice."""
    return report_services.report_groups_close_quiet()
