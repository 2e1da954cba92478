"""Periodic work of the status pages: a thin task that calls one service.

`incidents.maintenance_notices` runs from beat every five minutes; the service claims the changes
with SKIP LOCKED and records each told window, so running it twice tells nobody twice.
"""

from celery import shared_task

from .services import maintenance


@shared_task(name="incidents.maintenance_notices", ignore_result=True)
def maintenance_notices() -> int:
    return maintenance.maintenance_notices_send_due()
