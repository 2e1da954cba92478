from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """The API's default pagination. Without a ceiling, ?limit=10**30 reaches PostgreSQL as LIMIT
    and fails with "bigint out of range": a 500 from bad input."""

    max_limit = 1000
