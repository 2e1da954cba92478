"""Periodic work of the status pages: a thin task that calls one service.

`incidents.maintenance_notices` runs from beat every five minutes: windows coming up, then
announced windows whose change was cancelled. The services claim the changes with SKIP LOCKED and
record what they told, so running it twice tells nobody twice.
"""

from celery import shared_task

from .services import maintenance


@shared_task(name="incidents.maintenance_notices", ignore_result=True)
def maintenance_notices() -> int:
    told = maintenance.maintenance_notices_send_due()
    return told + maintenance.maintenance_cancellations_send_due()
