from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from . import permissions


def roles(request: HttpRequest) -> dict[str, object]:
    """What the signed-in user may do, for templates to show or hide controls. Lazy: asked only
    by the pages that show such controls (IT staff is a query; most pages never ask)."""
    user = request.user
    return {
        "is_it_staff": SimpleLazyObject(lambda: permissions.is_it_staff(user)),
        "is_admin": SimpleLazyObject(lambda: permissions.is_admin(user)),
    }
