"""Expired sessions' rows are deleted every night by beat (``trial_site.tasks.clear_sessions``); live ones kept."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from trial_site.tasks import clear_sessions


def test_beat_clears_the_expired_sessions_every_day() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["clear-sessions"]
    assert entry["task"] == "trial_site.tasks.clear_sessions"
    assert entry["schedule"].remaining_estimate(timezone.now()) <= timedelta(days=1)


def test_the_task_deletes_the_expired_session_rows_and_keeps_the_live_ones(db: None) -> None:
    now = timezone.now()
    Session.objects.create(session_key="expired" + "x" * 25, session_data="", expire_date=now - timedelta(minutes=1))
    Session.objects.create(session_key="live" + "y" * 28, session_data="", expire_date=now + timedelta(minutes=29))
    assert clear_sessions.delay().get() == "cleared"
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live" + "y" * 28]
