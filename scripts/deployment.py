"""What ``bench/soak.py`` and ``scripts/faults.py`` both set up for a deployment they run.

Django-free (the scripts drive the production processes from outside): the environment
of those processes, and the Python that ``simple-analytics shell -c`` runs once to create
the fixtures (a user, websites, a logged-in browser session, an API key).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def server_env(*, database_url: str, redis_url: str, data_dir: Path, host: str,
               **extra: str) -> dict[str, str]:  # fmt: skip
    """The production settings on these services; ``extra`` adds or overrides variables."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(data_dir),
        "TRUSTED_PROXIES": f"{host}/32",
        "DEBUG": "False",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        **extra,
    }
    env.pop("TESTING", None)
    return env


def fixture_code(email: str, domains: list[str]) -> str:
    """Python for ``simple-analytics shell -c``; its last line of output is what
    ``fixture_from`` reads."""
    return (
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from api.models import ApiKey\n"
        "from websites.services import website_create\n"
        f"u = get_user_model().objects.create_user(username={email!r}, email={email!r}, "
        f"password={secrets.token_urlsafe(16)!r})\n"
        f"sites = {{d: website_create(owner=u, domain=d) for d in {domains!r}}}\n"
        "s = SessionStore(); s['_auth_user_id'] = str(u.pk)\n"
        "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s['_auth_user_hash'] = u.get_session_auth_hash(); s.create()\n"
        "print(json.dumps({'sites': {d: [w.tracking_id, w.pk] for d, w in sites.items()}, "
        "'session': s.session_key, 'key': ApiKey.issue(user=u, name='fixture')[1]}))\n"
    )


def fixture_from(output: str) -> dict[str, Any]:
    """``{"sites": {domain: [tracking id, pk]}, "session": key, "key": API key}``."""
    return json.loads(output.strip().splitlines()[-1])
