"""The test suite runs against PostgreSQL and Redis (see scripts/with_services.py)."""

import os

from .base import *  # noqa: F403

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
STEWARD_WEBHOOK_DENY_NETWORKS = [
    n.strip() for n in os.environ.get("STEWARD_WEBHOOK_DENY_NETWORKS", "").split(",") if n.strip()
]
