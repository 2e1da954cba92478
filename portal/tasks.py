"""Periodic work of the portal: a thin task that calls one service.

`incidents.report_groups_close_quiet` runs from beat every five minutes (the name is older than
this app and stays: beat's schedule and any message already queued name it).
"""

from celery import shared_task

from .services import reports


@shared_task(name="incidents.report_groups_close_quiet", ignore_result=True)
def report_groups_close_quiet() -> int:
    """Close problem-report groups that went quiet, so the next report starts a fresh group (and
    notifies the on-call again) instead of joining a stale one. An UPDATE: safe to run twice."""
    return reports.report_groups_close_quiet()
