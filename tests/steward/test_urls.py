"""Every URL reaches its own view, whatever order `steward.urls` tries the apps' URLs in.

Django tries routes in order and takes the first that matches, so a route with a converter can
take another route's path: `projects/<slug:slug>/` tried before `projects/new/` would show a
project called "new" instead of the form. The pages asked most (the directory, a project's
page) are tried early to spare every request the regular expressions of the routes before
them; these tests are what makes that order safe to change."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from portal import urls as portal_urls
from registry import urls as registry_urls

# A value for each of Django's converters that no literal segment of a route spells.
SAMPLES = {"int": "7", "slug": "zz-sample", "str": "zz-sample", "path": "zz/sample"}
CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?\w+>")


def _routes(resolver: URLResolver) -> list[tuple[str, URLPattern]]:
    """(full route, pattern) of every URL written as routes all the way down, in the order Django
    tries them. A route that repeats one tried before it (a view replaced on purpose: the
    sign-in page) is left out."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            if not isinstance(pattern.pattern, RoutePattern):
                continue  # a regular expression (the admin's, the API router's): no route
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route, pattern

    first: dict[str, URLPattern] = {}
    for route, pattern in walk(resolver.url_patterns, ""):
        first.setdefault(route, pattern)
    return list(first.items())


def _sample(route: str) -> str | None:
    """A path of the route, or None when one of its converters is not Django's own."""
    kinds = [m["kind"] or "str" for m in CONVERTER.finditer(route)]
    if any(kind not in SAMPLES for kind in kinds):
        return None
    return "/" + CONVERTER.sub(lambda m: SAMPLES[m["kind"] or "str"], route)


def _not_reached(resolver: URLResolver) -> list[str]:
    """The routes whose path some other route takes."""
    missed = []
    for route, pattern in _routes(resolver):
        path = _sample(route)
        if path is None:
            continue
        match = resolver.resolve(path)
        if match.func != pattern.callback or match.route != route:
            missed.append(f"{path} reaches {match.route!r}, not {route!r}")
    return missed


def test_every_route_is_reached_by_its_own_path():
    resolver = get_resolver()
    assert len(_routes(resolver)) > 300  # the whole site, not a part of it
    assert _not_reached(resolver) == []


def test_a_route_taken_by_one_tried_before_it_is_found():
    """The check fails where it should: the project page tried before the registry's own
    routes takes `projects/new/`."""
    wrong_order = URLResolver(
        RegexPattern(r"^/"), portal_urls.registry_urlpatterns + registry_urls.urlpatterns
    )
    assert "/projects/new/ reaches 'projects/<slug:slug>/', not 'projects/new/'" in (
        _not_reached(wrong_order)
    )
    right_order = URLResolver(
        RegexPattern(r"^/"), registry_urls.urlpatterns + portal_urls.registry_urlpatterns
    )
    assert _not_reached(right_order) == []
