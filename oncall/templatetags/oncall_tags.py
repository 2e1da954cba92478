"""On-call parts of pages that lower apps render: who is on call for an IT system."""

from django import template

from ..selectors import system_oncall

register = template.Library()


@register.inclusion_tag("oncall/_project_oncall.html")
def system_on_call(system):
    """The system's own on-call now and next, in the project page's block. Four queries."""
    return {"support": system_oncall(system), "system": system}
