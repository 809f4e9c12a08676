"""Strict helpers that read configuration from the environment.

Only ``settings.py`` calls these; the rest of the code reads ``django.conf.settings``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TypeVar

D = TypeVar("D", bool, None)


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed; the message says which and why."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_bool(name: str, default: D) -> bool | D:
    """True or False; ``default`` (None: not set) when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw == "True":
        return True
    if raw == "False":
        return False
    raise ConfigError(f"{name} must be True or False, got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_seconds(name: str, default: float, *, maximum: float = 3600) -> float:
    """A duration in seconds, above 0 and at most ``maximum``; ``default`` when unset or empty."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= maximum:
        raise ConfigError(f"{name} must be between 0 and {maximum:g} seconds")
    return value


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated CIDRs (a bare address is its /32 or /128); empty when unset."""
    try:
        return [ipaddress.ip_network(cidr, strict=False) for cidr in env_list(name, [])]
    except ValueError as exc:
        raise ConfigError(f"{name} must be a comma-separated list of CIDRs: {exc}") from None


def env_secret(name: str) -> str:
    """The value of NAME, or the contents of the file named by NAME_FILE (container secrets)."""
    value = os.environ.get(name, "")
    if value:
        return value
    path = os.environ.get(f"{name}_FILE", "")
    if path:
        return Path(path).read_text().strip()
    return ""


def env_file(name: str) -> str:
    """The contents of the file whose path NAME holds (stripped); ``""`` when NAME is unset."""
    path = os.environ.get(name, "")
    if not path:
        return ""
    try:
        value = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc}") from None
    if not value:
        raise ConfigError(f"{name}: {path} is empty")
    return value


def secret_key_from_data_dir(data_dir: Path) -> str:
    """Read the generated secret key kept in the data dir, creating it on first start."""
    from django.core.management.utils import get_random_secret_key

    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = get_random_secret_key()
    # O_EXCL: when two processes start together, exactly one writes and both read the same key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
