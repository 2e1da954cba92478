"""Domain errors raised by services in every app; `steward.api` and the views turn them into
responses.

Field-level problems are Django's ``ValidationError`` (with a dict naming the field): HTTP 400.
A request that is well-formed but not allowed in the current state is a ``Conflict``: HTTP 409.
"""


class Conflict(Exception):
    def __init__(self, message: str, *, code: str = "conflict") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
