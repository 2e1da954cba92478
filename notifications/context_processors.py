from django.http import HttpRequest

from registry.permissions import is_it_staff
from steward.health import degraded_channels


def delivery_health(request: HttpRequest) -> dict:
    """IT staff see a banner on every page while a delivery channel keeps failing. Whether the
    reader is IT staff is asked first: it was read with their account (`registry.backends`), so
    nobody else's page asks Redis anything (a round trip cost a page ~0.1 ms)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not is_it_staff(user):
        return {}
    degraded = degraded_channels()
    if not degraded:
        return {}
    return {"degraded_channels": sorted(degraded)}
