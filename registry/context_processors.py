from django.http import HttpRequest

from . import permissions


def roles(request: HttpRequest) -> dict[str, bool]:
    """What the signed-in user may do, for templates to show or hide controls."""
    user = request.user
    return {"is_it_staff": permissions.is_it_staff(user), "is_admin": permissions.is_admin(user)}
