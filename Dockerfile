# Steward web, worker and beat image. The same image runs every role; docker-compose.yml picks
# the command. Settings come from the environment (see README.md, .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=steward.settings.production \
    STEWARD_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    WEB_CONCURRENCY=3

WORKDIR /app

RUN groupadd --system --gid 10001 steward \
    && useradd --system --uid 10001 --gid steward --home-dir /app --no-create-home steward

# Dependencies first, so that a code change does not reinstall them. The project declares no
# packages of its own (pyproject: packages = []): the code runs from /app.
# python-ldap (LDAP sign-in) builds against OpenLDAP's and SASL's headers; the build tools go
# after the install, the client libraries stay.
COPY pyproject.toml README.md ./
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev \
    && pip install . \
    && apt-get purge -y build-essential libldap2-dev libsasl2-dev \
    && apt-get autoremove -y \
    && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*

COPY . .

# Static files are collected into the image and served by whitenoise. The production settings
# refuse to load without a SECRET_KEY, so this one step gets a throwaway key that exists only
# in this RUN's environment (it is not an ENV, so it is not in the image or its later layers).
RUN SECRET_KEY=collectstatic-only-throwaway-not-used-at-runtime-0123456789abcdef \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/sent-journal \
    && chown -R steward:steward /app/var

USER steward

EXPOSE 8000

# /healthz?scope=web answers 200 when the process is up and reaches the database; Host must be one of
# ALLOWED_HOSTS, and X-Forwarded-Proto spares the HTTPS redirect (TLS ends at the proxy).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; host = (os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.') or 'localhost').replace('*', 'localhost'); u.urlopen(u.Request('http://127.0.0.1:8000/healthz?scope=web', headers={'Host': host, 'X-Forwarded-Proto': 'https'}), timeout=4)"]

# Workers: WEB_CONCURRENCY (read by gunicorn). Migrations run in compose's one-off `migrate`.
CMD ["gunicorn", "steward.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
