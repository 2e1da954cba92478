"""What every app's HTML views need from htmx: one URL serves a page and its fragment."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx swap wants the fragment; htmx restoring history after a cache miss wants a page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def render_page_or_fragment(
    request: HttpRequest,
    page: str,
    fragment: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    """Render `fragment` for an htmx swap and `page` otherwise, from the same URL."""
    response = render(
        request, fragment if wants_fragment(request) else page, context, status=status
    )
    # The same URL answers with two bodies: caches must key on the header that picks one.
    patch_vary_headers(response, ("HX-Request",))
    return response


def page_or_rendered_fragment(
    request: HttpRequest, page: str, fragment_html: str, context: dict[str, Any]
) -> HttpResponse:
    """`render_page_or_fragment` for a fragment already rendered (kept between requests, say):
    the fragment as it is for an htmx swap, else `page`, which shows it as `fragment_html`."""
    if wants_fragment(request):
        response = HttpResponse(fragment_html)
    else:
        response = render(request, page, {**context, "fragment_html": fragment_html})
    patch_vary_headers(response, ("HX-Request",))
    return response
