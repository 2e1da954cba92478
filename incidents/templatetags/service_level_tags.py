"""`{% service_levels project %}`: the project's service-level targets against this month's
measured values and the error budget left (incidents/service_levels.py; four queries)."""

from django import template

from ..service_levels import service_level_for

register = template.Library()


@register.inclusion_tag("incidents/_service_levels.html")
def service_levels(project) -> dict:
    return {"sl": service_level_for(project)}
