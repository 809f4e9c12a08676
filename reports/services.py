"""Writes of email reports: opting in and out, and sending each due report once.

Delivery is at most once. A report's ``ReportDelivery`` row is inserted (the claim, its own
committed transaction) before the message goes to the SMTP server and marked sent after.
A run that finds the row sends nothing, so two runs, two consumers or a worker restarted
mid-send never send a period twice. The price: a worker killed after the claim and before
the mark leaves the row ``claimed`` and that report is lost, because the server may or may
not have taken the message. Only a send that failed with an SMTP or connection error is
known to have delivered nothing: it is marked ``failed`` and retried on later runs, at most
``MAX_ATTEMPTS`` times, while its period is still the one due. (A timeout counts as such
a failure: should the server have taken the message and its answer been lost, the retry
sends a second copy.)
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import smtplib
from collections import Counter
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F

from reports.content import report_build, report_message
from reports.models import DeliveryState, Frequency, ReportDelivery, ReportSubscription
from reports.schedule import due_period, send_at
from stats.periods import Period
from websites.models import Website

MAX_ATTEMPTS = 5

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to tell: no data in the period nor in the one before
    FAILED = "failed"  # the SMTP server refused or could not be reached
    ALREADY = "already"  # claimed before: sent, skipped, in progress or lost in a crash


def subscription_frequencies(*, user: User, website: Website) -> set[str]:
    return set(
        ReportSubscription.objects.filter(user=user, website=website).values_list(
            "frequency", flat=True
        )
    )


def subscriptions_set(*, user: User, website: Website, frequencies: Iterable[str]) -> None:
    """Opt ``user`` in to exactly these reports of ``website`` (and out of the others)."""
    wanted = {Frequency(f) for f in frequencies}
    ReportSubscription.objects.filter(user=user, website=website).exclude(
        frequency__in=wanted
    ).delete()
    for frequency in wanted:
        ReportSubscription.objects.get_or_create(user=user, website=website, frequency=frequency)


def subscription_get_by_token(token: str) -> ReportSubscription | None:
    if not token or len(token) > 64:
        return None
    return (
        ReportSubscription.objects.select_related("website").filter(unsubscribe_token=token).first()
    )


def subscription_delete(*, subscription: ReportSubscription) -> None:
    subscription.delete()


def _claim(subscription: ReportSubscription, period: Period, now: dt.datetime) -> bool:
    """Insert the delivery row, or take over a failed one; False when another run has it."""
    try:
        with transaction.atomic():
            ReportDelivery.objects.create(
                subscription=subscription,
                period_start=period.first_day,
                state=DeliveryState.CLAIMED,
                claimed_at=now,
            )
        return True
    except IntegrityError:
        # Conditional on the state, so of two runs retrying the same failure one wins.
        return bool(
            ReportDelivery.objects.filter(
                subscription=subscription,
                period_start=period.first_day,
                state=DeliveryState.FAILED,
                attempts__lt=MAX_ATTEMPTS,
            ).update(state=DeliveryState.CLAIMED, claimed_at=now, attempts=F("attempts") + 1)
        )


def _mark(
    subscription: ReportSubscription,
    period: Period,
    state: DeliveryState,
    *,
    sent_at: dt.datetime | None = None,
    error: str = "",
) -> None:
    ReportDelivery.objects.filter(subscription=subscription, period_start=period.first_day).update(
        state=state, sent_at=sent_at, error=error[:2000]
    )


def report_deliver(
    *, subscription: ReportSubscription, period: Period, now: dt.datetime
) -> Outcome:
    """Send the report of ``period`` to the subscriber unless a run claimed it before."""
    if not _claim(subscription, period, now):
        return Outcome.ALREADY
    report = report_build(subscription, period)
    if not report.has_data:
        _mark(subscription, period, DeliveryState.SKIPPED)
        return Outcome.SKIPPED
    message = report_message(report, to=subscription.user.email)
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        _mark(subscription, period, DeliveryState.FAILED, error=repr(exc))
        log.warning("report %s for %s not sent: %s", period.first_day, subscription, exc)
        return Outcome.FAILED
    _mark(subscription, period, DeliveryState.SENT, sent_at=dt.datetime.now(dt.UTC))
    return Outcome.SENT


def reports_send_due(*, now: dt.datetime) -> Counter[Outcome]:
    """Send every report that is due at ``now`` (see ``reports.schedule``) and not claimed
    yet. A subscription made after its period's sending time starts with the next one."""
    # Deliveries of the last two months decide without a failed INSERT per subscription.
    since = (now - dt.timedelta(days=70)).date()
    done = set(
        ReportDelivery.objects.filter(period_start__gte=since)
        .exclude(state=DeliveryState.FAILED)
        .values_list("subscription_id", "period_start")
    )
    outcomes: Counter[Outcome] = Counter()
    # Only to members of the website's team: someone who left it gets no more numbers.
    subscriptions = ReportSubscription.objects.select_related("website", "user").filter(
        website__is_active=True, website__team__memberships__user_id=F("user_id")
    )
    for subscription in subscriptions.order_by("pk"):
        period = due_period(subscription.frequency, subscription.website.tz, now=now)
        if period is None or subscription.created_at > send_at(period):
            continue
        if (subscription.pk, period.first_day) in done or not subscription.user.email:
            continue
        outcomes[report_deliver(subscription=subscription, period=period, now=now)] += 1
    return outcomes
