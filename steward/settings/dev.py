"""The one-command demo: DEBUG on; mail goes to files under var/mail unless EMAIL_HOST is set."""

import os

from .base import *  # noqa: F403
from .base import VAR_DIR, env_bool, env_networks

DEBUG = env_bool("DEBUG", True)
if "EMAIL_HOST" not in os.environ:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

# The demo and local receivers listen on localhost.
STEWARD_WEBHOOK_ALLOW_NETWORKS = env_networks(
    "STEWARD_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128"
)
