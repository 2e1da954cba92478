"""Template filters of the registry's pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from steward.timetags import their_time

from ..selectors import Supporter

register = template.Library()

_AWAKE = mark_safe('<span class="badge awake">in working hours</span>')  # noqa: S308  # nosec B308, B703
_ASLEEP = mark_safe('<span class="badge asleep">outside hours</span>')  # noqa: S308  # nosec B308, B703


@register.simple_tag
def supporter(s: Supporter) -> SafeString:
    """One supporter: their name, their clock now in their own zone, and whether they are in
    working hours. Written here rather than by an included template: a directory page lists
    20-30 of them, and including a template for each was a third of its rendering."""
    zone = s.person.time_zone
    return format_html(
        '<span class="supporter"><span class="name">{}</span> '
        '<span class="small" title="{}">{}</span> {}</span>',
        s.person.display_name,
        zone,
        their_time(s.local_time, zone),
        _AWAKE if s.in_working_hours else _ASLEEP,
    )


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """`text`, escaped, with each case-insensitive occurrence of the search `query` in <mark>
    (nothing marked for a match by likeness alone, where no piece is the query)."""
    text = str(text)
    query = (query or "").strip()
    if not query:
        return escape(text)
    pieces = re.split(f"({re.escape(query)})", text, flags=re.IGNORECASE)
    # split with one group: odd indexes are the matches. Every piece is escaped below.
    return mark_safe(  # noqa: S308  # nosec B308 B703
        "".join(
            f"<mark>{escape(piece)}</mark>" if index % 2 else escape(piece)
            for index, piece in enumerate(pieces)
        )
    )
