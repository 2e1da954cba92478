from django.conf import settings
from django.http import HttpRequest

from . import provider


def sign_in(request: HttpRequest) -> dict[str, object]:
    """What the login page offers: the provider's button, the password form, or both."""
    return {
        "sso_provider_name": provider.display_name() if provider.is_configured() else "",
        "local_passwords_enabled": settings.STEWARD_LOCAL_PASSWORDS_ENABLED,
    }
