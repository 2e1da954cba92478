from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from . import permissions


def roles(request: HttpRequest) -> dict[str, object]:
    """What the signed-in user may do, for templates to show or hide controls. Whether they are
    IT staff is a query, asked only by the pages that show such controls (most never ask)."""
    user = request.user
    return {
        "is_it_staff": SimpleLazyObject(lambda: permissions.is_it_staff(user)),
        "is_admin": permissions.is_admin(user),  # no query: a flag of the account
    }
