"""Periodic work of IT changes: a thin task that calls one service.

`incidents.due_reminders` runs from beat every minute (the name is older than this app and stays:
beat's schedule and any message already queued name it). Reminders are rows with a due time (never
Celery countdowns, which Redis redelivers past its visibility timeout); the service claims them
with SKIP LOCKED and marks them sent in the transaction that writes their notices, so running the
task twice, or on two beats, sends each reminder once.
"""

from celery import shared_task

from . import services


@shared_task(name="incidents.due_reminders", ignore_result=True)
def due_reminders() -> int:
    return services.change_reminders_send_due()
