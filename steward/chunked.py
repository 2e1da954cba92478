"""Request bodies sent with `Transfer-Encoding: chunked` (no Content-Length), as a WSGI middleware.

Django sizes a request's body by its Content-Length and reads nothing without one, so a chunked
body (what many HTTP clients send for a streamed upload, some PagerDuty clients among them)
reached every view as empty and was refused as such. The server (gunicorn) de-chunks
`wsgi.input`; here it is read, up to DATA_UPLOAD_MAX_MEMORY_SIZE, and handed on with its
length, so views, receivers and the API read it as any other body. Past the limit the answer is
a 413, without reading the rest.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable

from django.conf import settings

# When DATA_UPLOAD_MAX_MEMORY_SIZE is None (no limit), a chunked body is still held in memory.
FALLBACK_LIMIT = 10 * 1024 * 1024


class ChunkedBody:
    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or FALLBACK_LIMIT
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _too_large(limit, start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.app(environ, start_response)


def _too_large(limit: int, start_response: Callable) -> list[bytes]:
    message = f"The body is over the limit of {limit} bytes."
    # `detail` is the API's error shape, `errors` the monitors' receivers'.
    body = json.dumps({"status": "invalid", "detail": message, "errors": [message]}).encode()
    start_response(
        "413 Request Entity Too Large",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            # The rest of the body is not read: the connection cannot carry another request.
            ("Connection", "close"),
        ],
    )
    return [body]
