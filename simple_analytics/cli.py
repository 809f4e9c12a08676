"""The ``simple-analytics`` console script: Django management commands under friendly names.

``simple-analytics site add example.com --owner me@example.com`` runs the ``site_add``
command, ``import-events`` runs ``import_events``; anything else (``migrate``,
``createsuperuser`` ...) is passed to Django as it is.
"""

from __future__ import annotations

import os
import sys

ALIASES = {("site", "add"): ["site_add"], ("import-events",): ["import_events"]}


def translate(argv: list[str]) -> list[str]:
    for words, command in ALIASES.items():
        if tuple(argv[: len(words)]) == words:
            return command + argv[len(words) :]
    return argv


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simple_analytics.settings")
    from django.core.management import execute_from_command_line

    args = translate(list(sys.argv[1:] if argv is None else argv))
    execute_from_command_line(["simple-analytics", *args])


if __name__ == "__main__":
    main()
