"""The deployment files describe something that runs: every service of docker-compose.yml and the
Dockerfile start programs, modules and commands that exist here, the required settings come from
the environment, and the production settings pass `check --deploy`.

No Docker engine is needed: the files are parsed and each command is resolved against this
checkout (the image installs the same pyproject and copies the same tree).
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
APP_SERVICES = ["migrate", "web", "worker", "worker-pages", "beat"]


def production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The browser tests' conftest sets DJANGO_ALLOW_ASYNC_UNSAFE for the test
        # process; a deployment never has it, and check --deploy rightly refuses it.
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="steward.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="steward.example.com",
        **extra,
    )
    return env


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [tuple(entry.split(None, 1)) for entry in logical]


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), arguments
    return parsed


def option(argv: list[str], *names: str) -> str:
    for index, arg in enumerate(argv):
        if arg in names:
            return argv[index + 1]
    raise AssertionError(f"{names} missing from {argv}")


def assert_command_runs_here(argv: list[str]) -> None:
    """The program exists in this environment and what it is asked to load can be loaded."""
    program = argv[0]
    if program == "python":
        assert argv[1] == "manage.py", argv
        assert (ROOT / "manage.py").exists()
        assert argv[2] in get_commands(), f"no manage.py command {argv[2]!r}"
        return
    assert (Path(sys.executable).parent / program).exists(), f"{program} is not installed"
    if program == "gunicorn":
        targets = [a for a in argv[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", a)]
        assert len(targets) == 1, argv
        module_path, attribute = targets[0].split(":")
        with warnings.catch_warnings():
            # whitenoise notes that collectstatic has not run in this checkout; the image runs it.
            warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
            application = getattr(importlib.import_module(module_path), attribute)
        assert callable(application)
    elif program == "celery":
        app = find_app(option(argv, "-A", "--app"))
        assert app.main == "steward"
        subcommand = next(a for a in argv[3:] if not a.startswith("-"))
        assert subcommand in celery_cli.commands, f"no celery subcommand {subcommand!r}"
    else:
        raise AssertionError(f"unexpected program {program!r} in {argv}")


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def healthcheck_argv(test: list[str]) -> list[str]:
    kind, *rest = test
    if kind == "CMD":
        return rest
    assert kind == "CMD-SHELL", test
    return shlex.split(rest[0])


def assert_healthz_probe(argv: list[str]) -> None:
    """A python -c probe of /healthz?scope=web: valid code, aimed at the health view."""
    assert argv[:2] == ["python", "-c"], argv
    compile(argv[2], "<healthcheck>", "exec")
    urls = re.findall(r"http://127\.0\.0\.1:8000(/\w+)(\?[\w=&]*)?", argv[2])
    # The web scope: a stopped beat must not make the load balancer drop healthy web processes.
    assert urls == [("/healthz", "?scope=web")], argv[2]
    assert resolve(urls[0][0]).func.__module__ == "steward.health"


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_has_every_service_of_the_deployment():
    assert {"postgres", "pgbouncer", "redis", *APP_SERVICES} <= set(SERVICES)
    assert SERVICES["postgres"]["image"].split(":")[1].startswith("16")
    assert SERVICES["redis"]["image"].split(":")[1].startswith("7")
    for service in APP_SERVICES:
        assert "build" in SERVICES[service], service


def test_long_running_services_have_real_healthchecks():
    postgres = healthcheck_argv(SERVICES["postgres"]["healthcheck"]["test"])
    assert postgres[0] == "pg_isready"
    assert healthcheck_argv(SERVICES["redis"]["healthcheck"]["test"]) == ["redis-cli", "ping"]
    assert_healthz_probe(healthcheck_argv(SERVICES["web"]["healthcheck"]["test"]))
    for worker in ("worker", "worker-pages"):
        probe = healthcheck_argv(SERVICES[worker]["healthcheck"]["test"])
        assert probe[3:5] == ["inspect", "ping"], probe
        assert_command_runs_here(probe)
        # The ping goes to this worker's own node name.
        node = option(command_of(worker), "-n") if "-n" in command_of(worker) else "celery@%h"
        # Compose turns $$ into $, and the shell then expands $HOSTNAME.
        destination = option(probe, "--destination").replace("$$", "$")
        assert destination == node.replace("%h", "$HOSTNAME")


def test_app_services_wait_for_healthy_databases_and_migrations():
    for service in APP_SERVICES:
        depends = SERVICES[service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", service
        if service != "migrate":
            assert depends["redis"]["condition"] == "service_healthy", service
            assert depends["migrate"]["condition"] == "service_completed_successfully", service


def test_app_services_share_server_connections_through_pgbouncer_but_migrations_do_not():
    bouncer = SERVICES["pgbouncer"]
    assert bouncer["environment"]["POOL_MODE"] == "transaction"
    assert bouncer["environment"]["DB_HOST"] == "postgres"
    for service in APP_SERVICES:
        env = SERVICES[service]["environment"]
        host = re.search(r"@([\w-]+):\d+/", env["DATABASE_URL"]).group(1)
        if service == "migrate":
            assert (host, env["DATABASE_POOLER"]) == ("postgres", ""), service
        else:
            assert (host, env["DATABASE_POOLER"]) == ("pgbouncer", "transaction"), service
            assert "pgbouncer" in SERVICES[service]["depends_on"], service


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_commands_exist_in_the_project(service):
    assert_command_runs_here(command_of(service))


def test_roles_run_the_right_programs():
    assert command_of("migrate")[1:3] == ["manage.py", "migrate"]
    assert "steward.wsgi:application" in command_of("web")
    assert command_of("worker")[3] == "worker"
    assert command_of("beat")[3] == "beat"
    for service in APP_SERVICES:
        env = SERVICES[service]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "steward.settings.production", service


def test_workers_consume_every_queue_tasks_are_sent_to():
    consumed = set()
    for service in ("worker", "worker-pages"):
        consumed |= set(option(command_of(service), "-Q", "--queues").split(","))
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    routed = {route["queue"] for route in routes.values() if isinstance(route, dict)}
    assert {settings.CELERY_TASK_DEFAULT_QUEUE, "pages", *routed} <= consumed
    # Pages have a worker of their own, so notices can never hold them up.
    assert option(command_of("worker-pages"), "-Q") == "pages"


def test_workers_keep_their_sent_journal_on_a_volume_the_app_user_owns():
    """What a killed worker process sent but had not recorded is in STEWARD_VAR_DIR/sent-journal
    (`notifications.services.sending`): on a named volume for every worker, so that a container
    created again still finds it, created by the image for the user the workers run as (a new
    named volume takes the ownership of the directory it is mounted on)."""
    env = " ".join(args for kind, args in dockerfile_instructions() if kind == "ENV")
    var_dir = re.search(r"STEWARD_VAR_DIR=(\S+)", env)[1]
    mount = f"{var_dir}/sent-journal"
    for service in ("worker", "worker-pages"):
        volumes = SERVICES[service].get("volumes", [])
        named = {v.split(":")[1]: v.split(":")[0] for v in volumes}
        assert named.get(mount) in COMPOSE["volumes"], service
    runs = " ".join(args for kind, args in dockerfile_instructions() if kind == "RUN")
    assert f"mkdir -p {mount}" in runs
    assert f"chown -R steward:steward {var_dir}" in runs


def test_secrets_come_from_the_environment_and_are_documented():
    env = SERVICES["web"]["environment"]
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "EMAIL_HOST"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name]), env[name]
    assert env["EMAIL_HOST_PASSWORD"].startswith("${")
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )
    required = set(re.findall(r"\$\{(\w+):\?", json.dumps(COMPOSE)))
    documented = set(
        re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    )
    assert required and required <= documented, required - documented
    assert ".env" in (ROOT / ".gitignore").read_text().split()


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_builds_a_slim_non_root_image():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    kinds = [kind for kind, _ in instructions]
    user = [args for kind, args in instructions if kind == "USER"]
    assert user and user[-1] not in {"root", "0"}
    assert kinds.index("USER") < kinds.index("CMD")
    runs = [args for kind, args in instructions if kind == "RUN"]
    assert any(re.search(r"pip install \.(\s|$)", run) for run in runs)
    env = " ".join(args for kind, args in instructions if kind == "ENV")
    assert "SECRET_KEY" not in env, "a build-time key must not stay in the image"
    assert "DJANGO_SETTINGS_MODULE=steward.settings.production" in env


def test_dockerfile_collects_static_files_with_a_build_only_key():
    runs = [args for kind, args in dockerfile_instructions() if kind == "RUN"]
    collect = next(run for run in runs if "collectstatic" in run)
    argv = shlex.split(collect.split("&&")[0])
    assert argv[0].startswith("SECRET_KEY=") and len(argv[0].split("=", 1)[1]) >= 50
    assert argv[1:3] == ["python", "manage.py"]
    assert_command_runs_here(argv[1:])


def test_dockerfile_cmd_and_healthcheck_exist_in_the_project():
    instructions = dict(dockerfile_instructions())
    assert "ENTRYPOINT" not in instructions
    command = exec_form(instructions["CMD"])
    assert command == command_of("web")
    assert_command_runs_here(command)
    healthcheck = instructions["HEALTHCHECK"]
    assert_healthz_probe(exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip()))


def test_dockerignore_keeps_what_the_image_runs():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    needed = ["manage.py", "pyproject.toml", "README.md", "steward", "templates", "static"]
    needed += [app for app in ("registry", "incidents", "notifications") if (ROOT / app).is_dir()]
    for name in needed:
        assert (ROOT / name).exists(), name
        assert not any(fnmatch.fnmatch(name, p) for p in patterns), f"{name} is excluded"
    for private in (".env", ".venv", "var", ".git"):
        assert any(fnmatch.fnmatch(private, p) for p in patterns), f"{private} is not excluded"


# --- production settings, as the containers load them --------------------------------------


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_gunicorn_loads_the_web_command_with_production_settings():
    command = command_of("web")
    gunicorn = str(Path(sys.executable).parent / command[0])
    result = subprocess.run(
        [gunicorn, "--check-config", *command[1:]],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_a_missing_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
