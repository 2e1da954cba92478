"""The test suite runs against PostgreSQL and Redis (see scripts/with_services.py)."""

import os

from .base import *  # noqa: F403
from .base import REDIS_URL, env_networks

# Under pytest-xdist (`make test` runs two workers) each worker has its own test database
# (pytest-django names it) and its own Redis database, which its Celery workers use as their
# broker: workers would otherwise take each other's tasks and flush each other's queues. The
# processes a test starts (Celery workers, servers) inherit the environment, so it carries the
# database chosen and that it was chosen: they must use it as it is, not move one further.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker.startswith("gw") and os.environ.get("STEWARD_XDIST_REDIS") != _xdist_worker:
    _base, _, _db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_base}/{(int(_db or 0) + 1 + int(_xdist_worker[2:])) % 16}"
    CELERY_BROKER_URL = REDIS_URL
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["STEWARD_XDIST_REDIS"] = _xdist_worker

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

# Providers: test credentials and local stand-ins of the providers' HTTP APIs; nothing listens on
# port 9 unless a test starts a stand-in and points the worker (environment) or the test process
# (settings fixture) at it. Tests of the refusal of unconfigured channels blank these.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "steward-test-twilio-token")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "+15005550006")
TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL", "http://127.0.0.1:9").rstrip("/")
TWILIO_TIMEOUT = float(os.environ.get("TWILIO_TIMEOUT", "3"))
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "xoxb-steward-test")
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "steward-test-slack-signing")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "http://127.0.0.1:9/api/")
SLACK_TIMEOUT = int(os.environ.get("SLACK_TIMEOUT", "3"))
