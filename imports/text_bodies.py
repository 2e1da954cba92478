"""Request bodies and responses that are text files (a Backstage catalog's YAML, a CSV), not
JSON: the importers take the raw bytes and decode them themselves, so that a bad encoding or an
oversized file is one of the problems they list."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from steward.headers import content_disposition


class RawBodyParser(BaseParser):
    """The body as bytes, read no further than one byte past `limit` (so the importer can tell
    that it was larger and say so)."""

    media_type = "text/plain"
    limit = 0

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        return stream.read(self.limit + 1) if stream is not None else b""


def raw_body_parser(media_type: str, *, limit: int) -> type[RawBodyParser]:
    name = "".join(part.title() for part in media_type.replace("/", "-").split("-"))
    return type(f"{name}BodyParser", (RawBodyParser,), {"media_type": media_type, "limit": limit})


class TextRenderer(BaseRenderer):
    """A response that is already text (the export), passed through as it is."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        return data if isinstance(data, str | bytes) else str(data)


def attachment(text: str, *, content_type: str, filename: str) -> HttpResponse:
    """An export as a file to save (pages and API alike)."""
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = content_disposition(filename)
    return response
