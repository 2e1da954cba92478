from django import template

from notifications import selectors

register = template.Library()


@register.simple_tag
def delivery_log_for(event):
    """{% delivery_log_for event as log %}: the event's pages and notifications with attempts."""
    return {
        "pages": selectors.pages_for_event(event),
        "notifications": selectors.notifications_for_event(event),
    }
