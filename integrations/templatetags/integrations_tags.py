from django import template
from django.conf import settings
from django.urls import reverse

from registry.permissions import is_it_staff

from .. import selectors

register = template.Library()


@register.inclusion_tag("integrations/_system_integrations.html", takes_context=True)
def system_integrations(context, system):
    """For IT staff only: the system's integration key, the URLs to paste into monitors, and its
    heartbeats. One query (the heartbeats), none for anyone else."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not is_it_staff(user):
        return {"show": False}
    site = settings.SITE_URL
    return {
        "show": True,
        "system": system,
        "events_url": f"{site}{reverse('events-enqueue')}",
        "change_events_url": f"{site}{reverse('change-events-enqueue')}",
        "alertmanager_url": f"{site}{reverse('integrations:alertmanager-key', args=[system.integration_key])}",
        "heartbeats": [
            (heartbeat, f"{site}{heartbeat.get_ping_path()}")
            for heartbeat in selectors.heartbeats_for_system(system)
        ],
        "events": selectors.inbound_events_for_system(system),
    }
