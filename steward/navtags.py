"""`{% nav_url 'name' %}`: `{% url 'name' %}` for a URL without arguments, reversed once a process
for each URLconf and script prefix instead of on every page. The header's links are on every page
and reversing them cost a page a tenth of its time."""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@register.simple_tag
def nav_url(name: str) -> str:
    return _reversed(name, get_urlconf(), get_script_prefix())


@lru_cache(maxsize=512)
def _reversed(name: str, urlconf: str | None, prefix: str) -> str:
    # `reverse` reads the script prefix itself; it is in the key so that each prefix has its own.
    return reverse(name, urlconf=urlconf)
