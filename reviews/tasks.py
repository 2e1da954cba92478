"""Periodic work of reviews: a thin task calling one service (beat: `reviews-action-items-remind`
in the one schedule, settings)."""

from celery import shared_task

from . import services


@shared_task(name="reviews.action_items_remind", ignore_result=True)
def action_items_remind() -> int:
    return services.action_items_remind_due()
