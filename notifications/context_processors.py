from django.http import HttpRequest

from registry.permissions import is_it_staff
from steward.health import degraded_channels


def delivery_health(request: HttpRequest) -> dict:
    """IT staff see a banner on every page while a delivery channel keeps failing. Redis is asked
    first: nearly always nothing is failing, and then no page asks PostgreSQL who is IT staff."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    degraded = degraded_channels()
    if not degraded or not is_it_staff(user):
        return {}
    return {"degraded_channels": sorted(degraded)}
