"""Form posts holding U+0000, refused in one place.

PostgreSQL's text columns cannot hold U+0000: a form field that reaches a service without a
validator for it (a free-text message read straight from `request.POST`) came back as a 500. A
form post (urlencoded or multipart; uploaded files are not looked at) to a page with a NUL in any
field name or value is a 400 naming the field. Views exempt from CSRF are left alone: the API
(DRF parses its own bodies, JSON through steward.strict_json) and the monitors' receivers, which
read the raw body that parsing a multipart form here would consume. For every other POST, Django's
CSRF check reads `request.POST` anyway. Query strings are left to the views, which treat a NUL as
text that matches nothing (a search) or refuse it naming the parameter (the API's filters).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_field(request: HttpRequest) -> str | None:
    for name, values in request.POST.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\ufffd")
    return None


class RefuseNulInFormsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        if (
            request.method != "POST"
            or request.content_type not in FORM_TYPES
            or getattr(view, "csrf_exempt", False)
        ):
            return None
        field = _nul_field(request)
        if field is None:
            return None
        return HttpResponseBadRequest(
            f"{field}: the text holds U+0000 (NUL), which cannot be stored.\n",
            content_type="text/plain; charset=utf-8",
        )
