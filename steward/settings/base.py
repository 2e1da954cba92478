"""Settings shared by every environment, read from the environment with working defaults.

Steward runs on PostgreSQL and Redis, in production, in tests and in the demo alike:
``DATABASE_URL`` and ``REDIS_URL`` name them (``make run`` and ``make test`` start embedded
servers from pip wheels and set both when no server is configured).
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("STEWARD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_networks(name: str, default: str = "") -> list[str]:
    """Comma-separated CIDRs, each checked now: a typo fails at start-up, not at the first
    request it was meant to let in."""
    networks = env_list(name, default)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {network!r} is not a network ({exc}).") from None
    return networks


SECRET_KEY = os.environ.get("SECRET_KEY", "steward-dev-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # trigram lookups of the directory search
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "registry",
    "oncall",
    "changes",
    "incidents",
    "portal",
    "reviews",
    "notifications",
    "hygiene",
    "webhooks",
    "integrations",
    "imports",
    "sso",
    "directory",
]

MIDDLEWARE = [
    # First, so it counts every response for /metrics, including those of the middleware below.
    "integrations.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # A form field holding U+0000 is a 400 here, before any view or service sees it.
    "steward.unstorable.RefuseNulInFormsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Pages show and forms read times in the viewer's zone (theirs, else their browser's).
    "steward.times.ViewerTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# Django's database sessions, read with a plain statement on every request (steward/sessions.py).
SESSION_ENGINE = "steward.sessions"

ROOT_URLCONF = "steward.urls"
WSGI_APPLICATION = "steward.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.context_processors.roles",
                "notifications.context_processors.delivery_health",
                "sso.context_processors.sign_in",
            ],
            # Every time on a page is written by these filters (`when`, `their_time`, `in_zone`).
            "builtins": ["steward.timetags", "steward.navtags"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/steward"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
# Behind PgBouncer in transaction mode (docker-compose.yml), consecutive transactions of one
# connection may run on different server connections: no server-side cursors (a named cursor
# outlives its transaction). Steward's locks are all transaction-scoped (pg_advisory_xact_lock,
# SELECT … FOR UPDATE), so they hold through it (tests/test_pgbouncer.py).
DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "")
if DATABASE_POOLER not in ("", "session", "transaction"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER is {DATABASE_POOLER!r}: use 'transaction' (PgBouncer in transaction "
        "mode), 'session', or leave it unset (a direct connection)."
    )
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_POOLER == "transaction"
# Delivery's claim and record are prepared once a server session (steward.prepared): not where
# consecutive transactions may run on different sessions.
STEWARD_PREPARED_STATEMENTS = DATABASE_POOLER != "transaction"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in with local passwords (login page, API token endpoint, admin) and/or through the
# company's OpenID provider (sso/). With passwords off, the password backend (Django's ModelBackend,
# reading the account with its person: registry.backends) is not listed, so no password signs in
# anywhere; the OpenID backend inherits its permission checks.
STEWARD_LOCAL_PASSWORDS_ENABLED = env_bool("STEWARD_LOCAL_PASSWORDS_ENABLED", True)
AUTHENTICATION_BACKENDS = [
    *(["registry.backends.ModelBackend"] if STEWARD_LOCAL_PASSWORDS_ENABLED else []),
    "sso.backend.OIDCBackend",
]
# The company's OpenID provider (README "Single sign-on"). Configured when a client id and an
# issuer (discovery) or an authorization endpoint are set.
STEWARD_OIDC_PROVIDER_NAME = os.environ.get("STEWARD_OIDC_PROVIDER_NAME", "")
STEWARD_OIDC_ISSUER = os.environ.get("STEWARD_OIDC_ISSUER", "").strip()
STEWARD_OIDC_DISCOVERY_URL = os.environ.get("STEWARD_OIDC_DISCOVERY_URL", "").strip()
STEWARD_OIDC_AUTHORIZATION_ENDPOINT = os.environ.get("STEWARD_OIDC_AUTHORIZATION_ENDPOINT", "")
STEWARD_OIDC_TOKEN_ENDPOINT = os.environ.get("STEWARD_OIDC_TOKEN_ENDPOINT", "")
STEWARD_OIDC_USERINFO_ENDPOINT = os.environ.get("STEWARD_OIDC_USERINFO_ENDPOINT", "")
STEWARD_OIDC_JWKS_URI = os.environ.get("STEWARD_OIDC_JWKS_URI", "")
STEWARD_OIDC_END_SESSION_ENDPOINT = os.environ.get("STEWARD_OIDC_END_SESSION_ENDPOINT", "")
STEWARD_OIDC_CLIENT_ID = os.environ.get("STEWARD_OIDC_CLIENT_ID", "")
STEWARD_OIDC_CLIENT_SECRET = os.environ.get("STEWARD_OIDC_CLIENT_SECRET", "")
STEWARD_OIDC_TOKEN_AUTH = os.environ.get("STEWARD_OIDC_TOKEN_AUTH", "client_secret_post")
if STEWARD_OIDC_TOKEN_AUTH not in ("client_secret_post", "client_secret_basic"):
    raise ImproperlyConfigured(
        "STEWARD_OIDC_TOKEN_AUTH: use client_secret_post or client_secret_basic."
    )
STEWARD_OIDC_SCOPES = os.environ.get("STEWARD_OIDC_SCOPES", "openid email profile")
STEWARD_OIDC_SIGN_ALGORITHMS = env_list("STEWARD_OIDC_SIGN_ALGORITHMS", "RS256")
if not STEWARD_OIDC_SIGN_ALGORITHMS or {"none", "HS256", "HS384", "HS512"} & set(
    STEWARD_OIDC_SIGN_ALGORITHMS
):
    raise ImproperlyConfigured(
        "STEWARD_OIDC_SIGN_ALGORITHMS: asymmetric algorithms only (RS256, ES256, PS256 …)."
    )
STEWARD_OIDC_LEEWAY_SECONDS = int(os.environ.get("STEWARD_OIDC_LEEWAY_SECONDS", "60"))
STEWARD_OIDC_TIMEOUT = float(os.environ.get("STEWARD_OIDC_TIMEOUT", "10"))
STEWARD_OIDC_NAME_CLAIM = os.environ.get("STEWARD_OIDC_NAME_CLAIM", "name")
STEWARD_OIDC_EMAIL_CLAIM = os.environ.get("STEWARD_OIDC_EMAIL_CLAIM", "email")
STEWARD_OIDC_ZONEINFO_CLAIM = os.environ.get("STEWARD_OIDC_ZONEINFO_CLAIM", "zoneinfo")
STEWARD_OIDC_LOCALE_CLAIM = os.environ.get("STEWARD_OIDC_LOCALE_CLAIM", "locale")
STEWARD_OIDC_GROUPS_CLAIM = os.environ.get("STEWARD_OIDC_GROUPS_CLAIM", "groups")
# The provider's groups (names or ids, as the groups claim carries them) whose members are IT
# staff (the STEWARD_IT_GROUP group); empty: IT staff are managed in Steward only.
STEWARD_OIDC_IT_GROUPS = env_list("STEWARD_OIDC_IT_GROUPS", "")
# How a first sign-in finds a person who is already in Steward (imported, added by IT).
STEWARD_OIDC_MATCH_CLAIM = os.environ.get("STEWARD_OIDC_MATCH_CLAIM", "email")
STEWARD_OIDC_MATCH_FIELD = os.environ.get("STEWARD_OIDC_MATCH_FIELD", "email")
if STEWARD_OIDC_MATCH_FIELD not in ("email", "username"):
    raise ImproperlyConfigured("STEWARD_OIDC_MATCH_FIELD: use email or username.")
STEWARD_OIDC_CREATE_PEOPLE = env_bool("STEWARD_OIDC_CREATE_PEOPLE", True)
# Proxies (CIDRs) whose X-Forwarded-For is believed: the client is the rightmost address in it
# that is not one of them (steward/proxies.py). Empty: REMOTE_ADDR is the client.
STEWARD_TRUSTED_PROXIES = env_networks("STEWARD_TRUSTED_PROXIES", "")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "registry:directory"
LOGOUT_REDIRECT_URL = "registry:directory"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Email: SMTP by default (aiosmtpd in tests, a relay in production).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Steward <steward@localhost>")

# Celery's broker, rate limits, sign-in throttling and health beacons all live in Redis.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Well under the Redis visibility timeout, so a task is never redelivered while it still runs.
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Pages and everything else travel on separate queues, so a flood of notices never delays a page.
CELERY_TASK_ROUTES = {
    "notifications.send_page": {"queue": "pages"},
    "notifications.send_pages": {"queue": "pages"},
    "notifications.fan_out_pages": {"queue": "pages"},
    "notifications.send": {"queue": "default"},
    "notifications.send_many": {"queue": "default"},
    "notifications.fan_out": {"queue": "default"},
}
# All periodic work, in one place. Each task is safe to run twice and claims its rows itself.
CELERY_BEAT_SCHEDULE = {
    "notifications-sweep": {"task": "notifications.sweep", "schedule": 15.0},
    "incidents-due-reminders": {"task": "incidents.due_reminders", "schedule": 60.0},
    "incidents-maintenance-notices": {"task": "incidents.maintenance_notices", "schedule": 300.0},
    "incidents-report-groups-close-quiet": {
        "task": "incidents.report_groups_close_quiet",
        "schedule": 300.0,
    },
    "reviews-action-items-remind": {"task": "reviews.action_items_remind", "schedule": 300.0},
    # Who is on call now, kept per rotation: answers past a handoff or made stale by a write are
    # worked out here rather than by the next read.
    "oncall-current-refresh": {"task": "oncall.current_refresh", "schedule": 60.0},
    "integrations-heartbeats-check": {"task": "integrations.heartbeats_check", "schedule": 60.0},
    # Maintenance windows that ended: what still fires pages now.
    "integrations-maintenance-windows-release": {
        "task": "integrations.maintenance_windows_release",
        "schedule": 30.0,
    },
    "integrations-inbound-events-prune": {
        "task": "integrations.inbound_events_prune",
        "schedule": 3600.0,
    },
    # Owners of projects not reviewed for REGISTRY_REVIEW_AFTER_DAYS: once per review period.
    "hygiene-review-nudges": {"task": "hygiene.review_nudges_send", "schedule": 3600.0},
    # Names, emails and leavers from the LDAP directory (a no-op when LDAP is not configured).
    "directory-ldap-sync": {
        "task": "directory.ldap_sync",
        "schedule": float(os.environ.get("STEWARD_LDAP_SYNC_SECONDS", "900")),
    },
}
# Inbound monitor events (Events API, Alertmanager, heartbeats) are kept this long, except those
# of outages still open.
STEWARD_INBOUND_RETENTION_DAYS = int(os.environ.get("STEWARD_INBOUND_RETENTION_DAYS", "90"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON through the one strict reader (steward/strict_json.py): what cannot be stored is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "steward.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "steward.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "steward.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Steward API",
    "DESCRIPTION": "Who supports which app, what depends on what, and what IT is changing.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar), not a CDN: /api/docs/ works
    # on a network that reaches no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags and operation ids from the resource (`projects_list`), not from the version prefix.
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Choice sets that share a field name need a name each, or the schema warns.
    "ENUM_NAME_OVERRIDES": {
        "ContactMethodKindEnum": "registry.models.ContactMethod.Kind",
        "SystemKindEnum": "registry.models.ITSystem.Kind",
        "SubscriptionChannelEnum": "incidents.models.Subscription.Channel",
        "ProjectRoleEnum": "registry.models.ProjectRole.Role",
        "SupporterRoleEnum": "oncall.api.SUPPORTER_ROLES",
        "ContactReasonEnum": "oncall.selectors.CONTACT_REASONS",
        "NotificationStateEnum": "notifications.models.Notification.State",
        "PageStateEnum": "notifications.models.Page.State",
        "ChangeStateEnum": "changes.models.Change.State",
        "WebhookEventEnum": "webhooks.models.WebhookEndpoint.Event",
    },
    # The monitors' receivers are plain views: described by hand (integrations/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "integrations.schema.receivers_document",
    ],
}

# Registry hygiene: a project not reviewed for this many days is stale, and its owners are asked
# (once per period of this length) to confirm its entry with a signed link valid this long.
REGISTRY_REVIEW_AFTER_DAYS = int(os.environ.get("REGISTRY_REVIEW_AFTER_DAYS", "180"))
STEWARD_REVIEW_LINK_MAX_AGE_SECONDS = int(
    os.environ.get("STEWARD_REVIEW_LINK_MAX_AGE_SECONDS", str(30 * 24 * 3600))
)

# The Django group whose members are IT staff.
STEWARD_IT_GROUP = os.environ.get("STEWARD_IT_GROUP", "it")

# Parts of /healthz reported by the apps (steward.health): name → function returning the part.
# "registry": how many projects are orphaned (no active owner) — reported, never a 503.
STEWARD_HEALTH_PARTS = {"registry": "directory.selectors.registry_health"}

# SCIM 2.0 provisioning at /scim/v2/ (README, "Provisioning"): the bearer token the identity
# provider sends (empty: SCIM is off), and the SCIM groups whose members are IT staff.
STEWARD_SCIM_TOKEN = os.environ.get("STEWARD_SCIM_TOKEN", "")
STEWARD_SCIM_IT_GROUPS = env_list("STEWARD_SCIM_IT_GROUPS", "")

# LDAP sign-in (django-auth-ldap) and the sync (directory/ldap.py): off unless
# STEWARD_LDAP_SERVER_URI is set. Sign-in searches STEWARD_LDAP_USER_BASE for
# STEWARD_LDAP_USER_FILTER with the bind DN, then binds as the entry found with the password typed.
# The sync reads every entry matching STEWARD_LDAP_SYNC_FILTER and STEWARD_LDAP_ACTIVE_FILTER
# (what "not disabled" is in your directory); a person whose entry it does not find has left.
AUTH_LDAP_SERVER_URI = os.environ.get("STEWARD_LDAP_SERVER_URI", "")
AUTH_LDAP_BIND_DN = os.environ.get("STEWARD_LDAP_BIND_DN", "")
AUTH_LDAP_BIND_PASSWORD = os.environ.get("STEWARD_LDAP_BIND_PASSWORD", "")
AUTH_LDAP_START_TLS = env_bool("STEWARD_LDAP_START_TLS", False)
STEWARD_LDAP_USER_BASE = os.environ.get("STEWARD_LDAP_USER_BASE", "")
STEWARD_LDAP_USER_FILTER = os.environ.get("STEWARD_LDAP_USER_FILTER", "(uid=%(user)s)")
STEWARD_LDAP_SYNC_FILTER = os.environ.get("STEWARD_LDAP_SYNC_FILTER", "(objectClass=inetOrgPerson)")
STEWARD_LDAP_ACTIVE_FILTER = os.environ.get("STEWARD_LDAP_ACTIVE_FILTER", "")
STEWARD_LDAP_NAME_ATTR = os.environ.get("STEWARD_LDAP_NAME_ATTR", "cn")
STEWARD_LDAP_EMAIL_ATTR = os.environ.get("STEWARD_LDAP_EMAIL_ATTR", "mail")
AUTH_LDAP_USER_ATTR_MAP = {
    "first_name": "givenName",
    "last_name": "sn",
    "email": STEWARD_LDAP_EMAIL_ATTR,
}
AUTH_LDAP_ALWAYS_UPDATE_USER = True
if AUTH_LDAP_SERVER_URI:
    from django_auth_ldap.config import LDAPSearch

    AUTH_LDAP_USER_SEARCH = LDAPSearch(
        STEWARD_LDAP_USER_BASE,
        2,  # ldap.SCOPE_SUBTREE
        f"(&{STEWARD_LDAP_SYNC_FILTER}{STEWARD_LDAP_ACTIVE_FILTER}{STEWARD_LDAP_USER_FILTER})",
    )
    # LDAP first; then local passwords (when on) and the OpenID provider, as without LDAP.
    AUTHENTICATION_BACKENDS = ["directory.ldap.StewardLDAPBackend", *AUTHENTICATION_BACKENDS]

# Minutes before a scheduled change's start at which touched owners get a reminder
# (comma-separated; default 24 h and 1 h).
STEWARD_CHANGE_REMINDER_LEAD_MINUTES = [
    int(minutes)
    for minutes in os.environ.get("STEWARD_CHANGE_REMINDER_LEAD_MINUTES", "1440,60").split(",")
    if minutes.strip()
]

# Notifications: escalation, retries, leases, signed acknowledge links, channels.
STEWARD_ESCALATION_DELAY_SECONDS = int(os.environ.get("STEWARD_ESCALATION_DELAY_SECONDS", "600"))
# Passes through the escalation levels after the first one.
STEWARD_ESCALATION_REPEATS = int(os.environ.get("STEWARD_ESCALATION_REPEATS", "2"))
# A function (project, event description, at) -> list of levels: the pluggable escalation policy
# (see notifications.services.escalation; the event is a notifications.events.Event).
STEWARD_ESCALATION_LEVELS = os.environ.get(
    "STEWARD_ESCALATION_LEVELS", "notifications.services.default_escalation_levels"
)
# What an acknowledged page also does, called with (page=, now=) inside the acknowledging
# transaction: how the apps above the delivery pipeline hook in without it importing them.
STEWARD_PAGE_ACKNOWLEDGED = ["incidents.services.outages.outage_page_acknowledged"]
# Retries. A page is retried until it is acknowledged, stopped or superseded by its next
# escalation level, its backoff capped at STEWARD_PAGE_RETRY_MAX_SECONDS; after
# STEWARD_PAGE_FALLBACK_AFTER_ATTEMPTS failed attempts it also goes to the person's next contact
# method for pages. A notice (or digest, or message to an address) is retried for
# STEWARD_NOTICE_RETRY_HOURS from when it was due, its backoff capped at
# STEWARD_RETRY_MAX_SECONDS, and at most STEWARD_DELIVERY_MAX_ATTEMPTS times; then it fails and
# goes to the person's next contact method for notices.
STEWARD_DELIVERY_MAX_ATTEMPTS = int(os.environ.get("STEWARD_DELIVERY_MAX_ATTEMPTS", "200"))
STEWARD_NOTICE_RETRY_HOURS = float(os.environ.get("STEWARD_NOTICE_RETRY_HOURS", "12"))
STEWARD_RETRY_BASE_SECONDS = float(os.environ.get("STEWARD_RETRY_BASE_SECONDS", "5"))
STEWARD_RETRY_MAX_SECONDS = float(os.environ.get("STEWARD_RETRY_MAX_SECONDS", "600"))
STEWARD_PAGE_RETRY_MAX_SECONDS = float(os.environ.get("STEWARD_PAGE_RETRY_MAX_SECONDS", "60"))
STEWARD_PAGE_FALLBACK_AFTER_ATTEMPTS = int(
    os.environ.get("STEWARD_PAGE_FALLBACK_AFTER_ATTEMPTS", "3")
)
# A fan-out's sends are spread over at least this many Celery messages before any holds more
# than one row in a batch's worth (`notifications.services.enqueue.send_batches`): about the
# worker processes that deliver, so that all of them take part in a mid-sized outage.
STEWARD_SEND_SPREAD = max(1, int(os.environ.get("STEWARD_SEND_SPREAD", "8")))
# A claimed row whose worker died is sent again after this; longer than any one send can take.
STEWARD_LEASE_SECONDS = int(os.environ.get("STEWARD_LEASE_SECONDS", "60"))
# A worker that sent a message but cannot record it (the database is away) keeps trying this
# long before it leaves the record to the sweeper (a journal in Redis says the row was sent).
# Well within CELERY_TASK_SOFT_TIME_LIMIT.
STEWARD_RECORD_RETRY_SECONDS = float(os.environ.get("STEWARD_RECORD_RETRY_SECONDS", "30"))
# A delivery channel with this many failures in a row (to two addresses or more) is degraded:
# IT staff see a banner, /healthz and /metrics say so, and IT staff get a notice elsewhere.
STEWARD_CHANNEL_DEGRADED_AFTER = int(os.environ.get("STEWARD_CHANNEL_DEGRADED_AFTER", "10"))
# The sweeper re-enqueues a due pending row only if no message went out for it this long.
STEWARD_REENQUEUE_AFTER_SECONDS = int(os.environ.get("STEWARD_REENQUEUE_AFTER_SECONDS", "30"))
STEWARD_SWEEP_BATCH = int(os.environ.get("STEWARD_SWEEP_BATCH", "2000"))
STEWARD_ACK_LINK_MAX_AGE_SECONDS = int(
    os.environ.get("STEWARD_ACK_LINK_MAX_AGE_SECONDS", str(7 * 24 * 3600))
)
STEWARD_WEBHOOK_SECRET = os.environ.get("STEWARD_WEBHOOK_SECRET", "steward-dev-webhook-secret")
STEWARD_WEBHOOK_CONNECT_TIMEOUT = float(os.environ.get("STEWARD_WEBHOOK_CONNECT_TIMEOUT", "3"))
STEWARD_WEBHOOK_READ_TIMEOUT = float(os.environ.get("STEWARD_WEBHOOK_READ_TIMEOUT", "10"))
# Where webhooks (endpoints; people's webhook, Slack and Teams contact methods; status-page
# subscriptions) may go: see steward/net.py. Never: loopback, unspecified, link-local, multicast,
# reserved, and those in IPv4-mapped, NAT64 and 6to4 forms; only public addresses unless a network
# is in the allow list (an intranet's receivers, e.g. "10.20.0.0/16"; the test sinks on loopback).
# The deny list closes more, even inside the allow list: by default the cloud metadata addresses
# that are not link-local (Alibaba's, AWS's IPv6 one). Comma-separated CIDRs.
DEFAULT_WEBHOOK_DENY_NETWORKS = "169.254.0.0/16,fe80::/10,100.100.100.200/32,fd00:ec2::254/128"


STEWARD_WEBHOOK_DENY_NETWORKS = env_networks(
    "STEWARD_WEBHOOK_DENY_NETWORKS", DEFAULT_WEBHOOK_DENY_NETWORKS
)
STEWARD_WEBHOOK_ALLOW_NETWORKS = env_networks("STEWARD_WEBHOOK_ALLOW_NETWORKS", "")
# The CAs that webhook receivers' certificates are checked against: a file (an intranet's own CA
# with the public ones); empty, certifi's bundle.
STEWARD_WEBHOOK_CA_BUNDLE = os.environ.get(
    "STEWARD_WEBHOOK_CA_BUNDLE", os.environ.get("REQUESTS_CA_BUNDLE", "")
)
# Empty: the EMAIL_BACKEND above. Set to send notifications over SMTP while Django's own mail
# goes elsewhere (the end-to-end tests point it at a local aiosmtpd).
STEWARD_EMAIL_BACKEND = os.environ.get("STEWARD_EMAIL_BACKEND", "")

# Real providers (README, "Channels"). A channel whose provider is not configured here is refused
# when someone saves such a contact method and fails (never "sent") if one is still on file.
# SMS and voice: Twilio. The base URL is empty (Twilio's own API) outside tests, whose stand-in
# listens on localhost. Inbound callbacks are verified against SITE_URL, the public address
# Twilio signed (behind a proxy that rewrites the host, set SITE_URL to what the world sees).
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL", "").rstrip("/")
TWILIO_TIMEOUT = float(os.environ.get("TWILIO_TIMEOUT", "10"))
# Slack: a Slack app's bot token (chat:write, im:write) and its signing secret (interactivity).
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "")
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/")
# Per Web API call; a page is two (conversations.open, chat.postMessage), and one send must end
# well inside the delivery lease (STEWARD_LEASE_SECONDS) like a webhook's.
SLACK_TIMEOUT = int(os.environ.get("SLACK_TIMEOUT", "5"))
# Apprise: ntfy, Gotify, Pushover, Telegram, Matrix, Mattermost, SMS gateways, one URL each. On by
# default (it needs no account of Steward's own); off refuses `apprise` contact methods.
STEWARD_APPRISE_ENABLED = env_bool("STEWARD_APPRISE_ENABLED", True)
# The Apprise services people may use: push (ntfy, Gotify, Pushover, Pushbullet), chat (Telegram,
# Matrix, Mattermost, Rocket.Chat, Zulip, Discord, Signal), SMS gateways (Sinch, Plivo, Vonage,
# ClickSend, BulkSMS, SMSEagle, MSG91, D7, httpSMS) and a JSON POST. Not Apprise's local
# plugins (syslog, D-Bus, desktop) nor mailto:// (an SMTP server of the URL's choosing).
DEFAULT_APPRISE_SCHEMES = (
    "ntfy,ntfys,gotify,gotifys,pover,pbul,tgram,matrix,matrixs,mmost,mmosts,rocket,rockets,"
    "zulip,discord,signal,signals,sinch,plivo,vonage,nexmo,clicksend,bulksms,smseagle,"
    "smseagles,msg91,d7sms,httpsms,json,jsons"
)
STEWARD_APPRISE_SCHEMES = [
    s.strip().lower()
    for s in os.environ.get("STEWARD_APPRISE_SCHEMES", DEFAULT_APPRISE_SCHEMES).split(",")
    if s.strip()
]

# Inbound monitors (Events API, Alertmanager, heartbeats): requests per key per window. 120 a
# minute is PagerDuty's own limit per routing key.
STEWARD_INBOUND_RATE_LIMIT = int(os.environ.get("STEWARD_INBOUND_RATE_LIMIT", "120"))
STEWARD_INBOUND_RATE_WINDOW_SECONDS = int(
    os.environ.get("STEWARD_INBOUND_RATE_WINDOW_SECONDS", "60")
)
# /metrics answers `Authorization: Bearer <STEWARD_METRICS_TOKEN>`, and clients whose address
# (REMOTE_ADDR, never X-Forwarded-For) is in STEWARD_METRICS_ALLOW_NETWORKS (comma-separated
# CIDRs). With neither set, STEWARD_METRICS_OPEN decides: open here (development, tests), closed
# in production (steward/settings/production.py), which says so at start-up.
STEWARD_METRICS_TOKEN = os.environ.get("STEWARD_METRICS_TOKEN", "")
STEWARD_METRICS_ALLOW_NETWORKS = env_networks("STEWARD_METRICS_ALLOW_NETWORKS")
STEWARD_METRICS_OPEN = True
# /healthz answers 503 when the sweeper (every 15 s) has not run for this long.
STEWARD_SWEEPER_MAX_AGE_SECONDS = int(os.environ.get("STEWARD_SWEEPER_MAX_AGE_SECONDS", "300"))

# Problem reports: the on-call is paged once when this many reports on one project arrive within
# the window; a report group with no report for the quiet period closes.
STEWARD_REPORT_PAGE_THRESHOLD = int(os.environ.get("STEWARD_REPORT_PAGE_THRESHOLD", "3"))
STEWARD_REPORT_PAGE_WINDOW_MINUTES = int(os.environ.get("STEWARD_REPORT_PAGE_WINDOW_MINUTES", "10"))
STEWARD_REPORT_GROUP_QUIET_MINUTES = int(
    os.environ.get("STEWARD_REPORT_GROUP_QUIET_MINUTES", "120")
)
# Reports per person and per client address: on one project, and on all projects together.
STEWARD_REPORT_RATE_PER_PROJECT = int(os.environ.get("STEWARD_REPORT_RATE_PER_PROJECT", "5"))
STEWARD_REPORT_RATE_PER_PROJECT_MINUTES = int(
    os.environ.get("STEWARD_REPORT_RATE_PER_PROJECT_MINUTES", "10")
)
STEWARD_REPORT_RATE_OVERALL = int(os.environ.get("STEWARD_REPORT_RATE_OVERALL", "20"))
STEWARD_REPORT_RATE_OVERALL_MINUTES = int(
    os.environ.get("STEWARD_REPORT_RATE_OVERALL_MINUTES", "60")
)
# Subscriptions: how long an anonymous subscriber's confirmation link and an unsubscribe link work.
STEWARD_SUBSCRIPTION_CONFIRM_MAX_AGE_SECONDS = int(
    os.environ.get("STEWARD_SUBSCRIPTION_CONFIRM_MAX_AGE_SECONDS", str(3 * 24 * 3600))
)
STEWARD_UNSUBSCRIBE_LINK_MAX_AGE_SECONDS = int(
    os.environ.get("STEWARD_UNSUBSCRIBE_LINK_MAX_AGE_SECONDS", str(365 * 24 * 3600))
)
# Anonymous subscribe attempts (each may email a confirmation) per client address per hour.
STEWARD_SUBSCRIBE_ANON_RATE = int(os.environ.get("STEWARD_SUBSCRIBE_ANON_RATE", "10"))
# Sign-in guessing (login page and API token endpoint): failed attempts allowed per username from
# one address, per address, and per username over every address (then only browsers that signed
# in to it before may try), within a window that starts at the first failure (login_throttle.py).
STEWARD_LOGIN_MAX_FAILURES = int(os.environ.get("STEWARD_LOGIN_MAX_FAILURES", "5"))
STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS = int(
    os.environ.get("STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS", "20")
)
STEWARD_LOGIN_MAX_FAILURES_PER_USERNAME = int(
    os.environ.get("STEWARD_LOGIN_MAX_FAILURES_PER_USERNAME", "100")
)
STEWARD_LOGIN_WINDOW_SECONDS = int(os.environ.get("STEWARD_LOGIN_WINDOW_SECONDS", "900"))
# Status pages (/status/, /status/<slug>/ and their API): readable by anonymous visitors when
# true; signed-in people only when false. Personal contact details are never on them.
STEWARD_STATUS_PUBLIC = env_bool("STEWARD_STATUS_PUBLIC", True)
# Status subscribers hear of a scheduled IT change this many hours before it starts (unless they
# opted out of maintenance notices).
STEWARD_MAINTENANCE_NOTICE_HOURS = int(os.environ.get("STEWARD_MAINTENANCE_NOTICE_HOURS", "72"))

# Service levels per support tier (incidents/service_levels.py): time to acknowledge and to
# resolve (the 90th percentile of the month's, in minutes) and monthly availability (percent).
# None: no target. A project may override each (incidents.ServiceLevel, in the admin).
STEWARD_SERVICE_LEVELS = {
    "it_supported": {"ack_minutes": 15, "resolve_minutes": 240, "availability": 99.9},
    "side_project": {"ack_minutes": 60, "resolve_minutes": 1440, "availability": 99.0},
    "experimental": {"ack_minutes": None, "resolve_minutes": None, "availability": 95.0},
    "retired": {"ack_minutes": None, "resolve_minutes": None, "availability": None},
}
# The zone whose calendar months the availability and error budget are counted in.
STEWARD_SERVICE_LEVEL_ZONE = os.environ.get("STEWARD_SERVICE_LEVEL_ZONE", "UTC")
# The error budget burns fast when the share of it used is at least this many times the share of
# the month gone by.
STEWARD_BUDGET_FAST_BURN = 2.0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
