"""Template filters of the registry's pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


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
