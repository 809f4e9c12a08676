"""Who gets which email report of which website, and which periods went out."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from websites.models import Website


class Frequency(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(24)


class ReportSubscription(models.Model):
    """One recipient's opt-in to one report of one website. The recipient is a user, so
    team members can opt in for themselves once websites have several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    website = models.ForeignKey(
        Website, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    frequency = models.CharField(max_length=16, choices=Frequency.choices)
    # A random secret stored here, not a signature: the link dies with the subscription and
    # survives a change of SECRET_KEY.
    unsubscribe_token = models.CharField(max_length=64, unique=True, default=new_unsubscribe_token)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "website", "frequency"], name="report_subscription_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.frequency} report of {self.website_id} for {self.user_id}"


class DeliveryState(models.TextChoices):
    CLAIMED = "claimed", "Claimed"  # being sent, or the sender died: never sent again
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # the SMTP server refused or was unreachable: retried
    SKIPPED = "skipped", "Skipped"  # no data in the period nor in the one before


class ReportDelivery(models.Model):
    """The idempotency record of one report: the row is inserted (claimed) before the
    message is handed to SMTP, so a second run or a restarted worker finds it."""

    subscription = models.ForeignKey(
        ReportSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    period_start = models.DateField()  # the period's first local day
    state = models.CharField(max_length=16, choices=DeliveryState.choices)
    attempts = models.PositiveIntegerField(default=1)
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="report_delivery_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.period_start} {self.state}"
