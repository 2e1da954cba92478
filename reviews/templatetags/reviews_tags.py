"""`{% open_action_items project %}`: the project page's list of open action items from its
reviews. A template tag, so the project page (in `portal`, a lower layer) shows them without
`portal` importing `reviews`; one query."""

from django import template

from ..selectors import open_action_items_of

register = template.Library()


@register.inclusion_tag("reviews/_open_action_items.html")
def open_action_items(project) -> dict:
    return {"items": open_action_items_of(project), "project": project}
