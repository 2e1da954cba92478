"""Production: everything secret comes from the environment; `check --deploy` is clean."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("steward-dev"):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of 50+ characters.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Load balancers and Prometheus reach these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# /metrics tells the queues, delivery and people's activity: never open to whoever reaches the
# web. Without STEWARD_METRICS_TOKEN or STEWARD_METRICS_ALLOW_NETWORKS it is closed, and every
# process says so when it starts (integrations/apps.py).
STEWARD_METRICS_OPEN = False

# The load benchmark (bench/load.py) adds a constant-response view beside the real ones, as its
# baseline; never on unless the environment asks for it.
STEWARD_BENCH_BARE_VIEW = env_bool("STEWARD_BENCH_BARE_VIEW", False)
if STEWARD_BENCH_BARE_VIEW:
    ROOT_URLCONF = "bench.urls"
