"""Counts every HTTP response for `/metrics` (method and status code only: no paths, so the
number of series stays small whatever the URLs)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .metrics import request_observe


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        request_observe(request.method or "", response.status_code)
        return response
