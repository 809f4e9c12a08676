"""Per-user API keys for the stats and sites APIs. Only a SHA-256 of each key is stored."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models

KEY_PREFIX = "sa_"


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is enough (and allows lookup).
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Scope(models.TextChoices):
    """What a key may do: read stats and settings, or also change websites, goals and links."""

    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)  # shown in the list so keys can be told apart
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == Scope.READ_WRITE

    @classmethod
    def issue(cls, *, user: User, name: str, scope: str = Scope.READ) -> tuple[ApiKey, str]:
        """Create a key; returns the row and the plain key, which is shown once only."""
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(
            user=user,
            name=name.strip()[:100] or "API key",
            prefix=plain[:10],
            key_hash=hash_key(plain),
            scope=scope,
        )
        return row, plain
