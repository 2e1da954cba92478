"""What the import commands share: a file or stdin, `--dry-run`, `--actor`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imports.engine import ImportRejected


class ImportCommand(BaseCommand):
    """`manage.py <import> <path|-> [--dry-run] [--actor <username>]`; subclasses say what the
    file is (`what`) and what a dry run shows (`dry_run_help`)."""

    what = "file"
    dry_run_help = "Check and show what would change; write nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help=f"The {self.what}, or - to read standard input.")
        parser.add_argument("--dry-run", action="store_true", help=self.dry_run_help)
        parser.add_argument(
            "--actor",
            help="Import as this user (permissions apply, audit entries name them). "
            "Without it the import runs as Steward itself.",
        )

    def actor(self, options: dict[str, Any]) -> AbstractBaseUser | None:
        if not options["actor"]:
            return None
        user_model = get_user_model()
        try:
            return user_model.objects.get(**{user_model.USERNAME_FIELD: options["actor"]})
        except user_model.DoesNotExist:
            raise CommandError(f"No user is called {options['actor']!r}.") from None

    def read(self, options: dict[str, Any], limit: int = -1) -> bytes:
        """The input's bytes: at most `limit` (+1, so that the caller can tell it was larger)."""
        size = limit + 1 if limit >= 0 else -1
        try:
            if options["path"] == "-":
                return sys.stdin.buffer.read(size)
            with open(options["path"], "rb") as handle:
                return handle.read(size)
        except OSError as exc:
            raise CommandError(f"Cannot read {options['path']}: {exc}") from None

    @contextmanager
    def refusals(self) -> Iterator[None]:
        """A refused file lists every problem on stderr and fails; so does a refused actor."""
        try:
            yield
        except ImportRejected as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(exc.problems)} problem(s); nothing was imported.") from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
