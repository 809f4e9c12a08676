from __future__ import annotations

import getpass
import sys
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction


class Command(BaseCommand):
    help = "Create a user who can log in with EMAIL (for headless installs and scripts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--password", help="prompted for when omitted and a TTY is attached")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input (scripts)",
        )
        parser.add_argument("--superuser", action="store_true", help="also grant /admin/ access")

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"]
        password: str | None = options["password"]
        password_stdin: bool = options["password_stdin"]
        superuser: bool = options["superuser"]
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"not a valid email address: {email}") from None
        User = get_user_model()
        if (
            User.objects.filter(username=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise CommandError(f"a user {email} already exists")
        if password is not None and password_stdin:
            raise CommandError("give either --password or --password-stdin, not both")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin read no password (an empty first line)")
        elif password is None:
            password = self._ask_password(email)
        user = User(username=email, email=email, is_staff=superuser, is_superuser=superuser)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        user.set_password(password)
        with transaction.atomic():
            user.save()
            # allauth logs users in by their EmailAddress row: without it the login form
            # rejects the email. The operator typed it, so it counts as verified.
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
        self.stdout.write(f"created user {email}")

    def _ask_password(self, email: str) -> str:
        # getpass falls back to reading standard input without a terminal, and fails with
        # EOFError there: say how a script passes the password instead.
        if not sys.stdin.isatty():
            raise CommandError(
                "no terminal to ask for the password: pass it with --password PASSWORD, or "
                f"on standard input: echo PASSWORD | simple-analytics createuser {email} "
                "--password-stdin"
            )
        try:
            return getpass.getpass("Password: ")
        except (EOFError, KeyboardInterrupt):
            raise CommandError("no password given") from None
