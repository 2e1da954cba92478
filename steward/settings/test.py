"""The test suite runs against PostgreSQL and Redis (see scripts/with_services.py)."""

from .base import *  # noqa: F403
from .base import env_networks

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Static files are served by WhiteNoise from the finders in tests; its root must merely exist.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

# The sinks of the end-to-end tests listen on localhost.
STEWARD_WEBHOOK_ALLOW_NETWORKS = env_networks(
    "STEWARD_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128"
)
