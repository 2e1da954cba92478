"""The API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES). Its own module: DRF reads the
setting while `rest_framework.views` is being imported, so the parser cannot live beside code
that imports the views."""

from __future__ import annotations

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from .strict_json import UnusableJSON, strict_loads


class StrictJSONParser(JSONParser):
    """JSON bodies through `strict_loads`: a value nothing can store is a 400 naming the field it
    is under (`{field: [message]}`), a body that is not JSON a 400 `{detail}`; never a 5xx
    later, when the value reaches PostgreSQL."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            return strict_loads(body)
        except UnusableJSON as exc:
            if exc.field:
                raise ValidationError({exc.field: [str(exc)]}) from None
            raise ParseError(f"JSON parse error - {exc}") from None
