"""Steward's URLs plus the load benchmark's baseline, ``/bench/bare/``: a Django view that returns
a constant response, through the same middleware, server and settings as the pages it is compared
with. Used only when ``STEWARD_BENCH_BARE_VIEW`` is on (see steward/settings/production.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from steward.urls import urlpatterns as steward_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok\n", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *steward_urlpatterns]
