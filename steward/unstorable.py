"""Form posts holding U+0000, refused in one place.

PostgreSQL's text columns cannot hold U+0000: a form field that reaches a service without a
validator for it (a free-text message read straight from `request.POST`) came back as a 500. A
form post (urlencoded or multipart; uploaded files are not looked at) with a NUL in any field
name or value is a 400 naming the field. Query strings are left to the views, which treat a NUL
as text that matches nothing (a search) or refuse it naming the parameter (the API's filters);
JSON bodies go through steward.strict_json.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

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
        if request.method == "POST" and request.content_type in FORM_TYPES:
            field = _nul_field(request)
            if field is not None:
                message = "The text holds U+0000 (NUL), which cannot be stored."
                if request.path.startswith("/api/"):
                    return JsonResponse({field: [message]}, status=400)
                return HttpResponseBadRequest(
                    f"{field}: {message}\n", content_type="text/plain; charset=utf-8"
                )
        return self.get_response(request)
