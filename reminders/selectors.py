"""Reads of visit reminders, scoped to the user's sites, with a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from reminders.models import DeliveryAttempt, Reminder
from trial_site.scoping import scope_to_user_sites

# Reminders are listed at the sites where a role the user holds there may read them (a role counts at its site only).
VIEW_REMINDERS = "reminders.view_reminder"


def _readable(user: Any) -> QuerySet[Reminder]:
    return scope_to_user_sites(Reminder.objects.all(), user, permission=VIEW_REMINDERS)


def reminder_log(user: Any, *, status: str = "", channel: str = "") -> QuerySet[Reminder]:
    """The reminders of the sites where the user may read them, newest due first, optionally of one status and
    channel."""
    reminders = _readable(user).select_related("participant", "visit", "site")
    if status:
        reminders = reminders.filter(status=status)
    if channel:
        reminders = reminders.filter(channel=channel)
    return reminders.order_by("-due_at", "-pk")


def status_counts(user: Any) -> dict[str, int]:
    """How many reminders of the sites where the user may read them are in each status (one query)."""
    rows = _readable(user).values("status").annotate(n=Count("pk"))
    counts = {status: 0 for status in Reminder.Status.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def participant_reminders(participant: Any) -> list[Reminder]:
    return list(
        participant.reminders.select_related("visit", "send_now_by").order_by(
            "visit__sequence", "-offset_days", "channel", "pk"
        )
    )


@dataclass(frozen=True)
class BackendStatus:
    backend: str
    attempts_24h: int
    failures_24h: int
    last_success: datetime | None
    last_failure: datetime | None
    last_error: str


def delivery_backends(*, now: datetime | None = None) -> list[BackendStatus]:
    """Each delivery backend that has been used: its last success and failure, and the last day's counts."""
    now = now or timezone.now()
    day_ago = now - timedelta(hours=24)
    rows = (
        DeliveryAttempt.objects.values("backend")
        .annotate(
            attempts_24h=Count("pk", filter=Q(at__gte=day_ago)),
            failures_24h=Count("pk", filter=Q(at__gte=day_ago, succeeded=False)),
            last_success=Max("at", filter=Q(succeeded=True)),
            last_failure=Max("at", filter=Q(succeeded=False)),
        )
        .order_by("backend")
    )
    statuses = []
    for row in rows:
        error = ""
        if row["last_failure"] is not None:
            error = (
                DeliveryAttempt.objects.filter(backend=row["backend"], succeeded=False)
                .order_by("-at", "-pk")
                .values_list("error", flat=True)
                .first()
                or ""
            )
        statuses.append(BackendStatus(last_error=error, **row))
    return statuses


@dataclass(frozen=True)
class Backlog:
    overdue_planned: int  # due more than a sweep ago and still planned: is beat running?
    stuck_sending: int
    failed: int


def reminder_backlog(*, stuck_after: timedelta, now: datetime | None = None) -> Backlog:
    now = now or timezone.now()
    counts = Reminder.objects.aggregate(
        overdue_planned=Count("pk", filter=Q(status=Reminder.Status.PLANNED, due_at__lt=now - timedelta(minutes=15))),
        stuck_sending=Count("pk", filter=Q(status=Reminder.Status.SENDING, claimed_at__lt=now - stuck_after)),
        failed=Count("pk", filter=Q(status=Reminder.Status.FAILED)),
    )
    return Backlog(**counts)
