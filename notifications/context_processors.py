from django.http import HttpRequest

from registry.permissions import is_it_staff
from steward.health import degraded_channels


def delivery_health(request: HttpRequest) -> dict:
    """IT staff see a banner on every page while a delivery channel keeps failing."""
    user = getattr(request, "user", None)
    if user is None or not is_it_staff(user):
        return {}
    degraded = degraded_channels()
    return {"degraded_channels": sorted(degraded)} if degraded else {}
