import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("steward.metrics")


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Monitors in and operations"

    def ready(self) -> None:
        metrics_startup_notice()


def metrics_startup_notice() -> str | None:
    """Say at start-up who may read /metrics when production closed it for lack of a token or
    an allow-listed network (a log line, not a system check: `check --deploy` stays clean, and
    closed is the safe default, not a defect). Returns what was said."""
    if settings.STEWARD_METRICS_OPEN:
        return None
    if settings.STEWARD_METRICS_TOKEN or settings.STEWARD_METRICS_ALLOW_NETWORKS:
        return None
    message = (
        "/metrics is closed: it answers 403 to every scrape until STEWARD_METRICS_TOKEN "
        "(a bearer token) or STEWARD_METRICS_ALLOW_NETWORKS (CIDRs of the scrapers) is set."
    )
    logger.warning(message)
    return message
