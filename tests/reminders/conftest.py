"""Fixtures of the reminder tests: a real SMS gateway stand-in on loopback, and settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.randomization.factories import list_in_use
from tests.reminders.sms_gateway import SmsGatewayStandIn
from tests.visits.test_schedule import randomised_on, site_today
from trial_site.audit.actor import acting_as
from trial_site.celery import app
from trial_site.services import system_user


@pytest.fixture
def sms_gateway() -> Iterator[SmsGatewayStandIn]:
    """A running SMS gateway stand-in on 127.0.0.1, stopped after the test."""
    with SmsGatewayStandIn() as gateway:
        yield gateway


@pytest.fixture
def http_sms_settings(settings: Any, sms_gateway: SmsGatewayStandIn) -> SmsGatewayStandIn:
    """Settings that send SMS over HTTP to the stand-in (timeout 2 s); returns the stand-in."""
    settings.SMS_BACKEND = "http"
    settings.SMS_GATEWAY_URL = sms_gateway.url
    settings.SMS_GATEWAY_TOKEN = sms_gateway.token
    settings.SMS_GATEWAY_TIMEOUT_SECONDS = 2
    return sms_gateway


@pytest.fixture(autouse=True)
def _sms_outbox_in_tmp(settings: Any, tmp_path: Any) -> None:
    """The file SMS backend writes to this test's own outbox."""
    settings.SMS_OUTBOX_PATH = tmp_path / "outbox" / "sms.jsonl"


def daytime_zone(now: datetime | None = None) -> str:
    """A time zone where it is about noon now: tests that send through a worker must not meet quiet hours,
    whenever they run. (Quiet hours and caps are tested with explicit times.)"""
    now = now or datetime.now(UTC)
    hours_ahead = (12 - now.hour + 12) % 24 - 12  # UTC+hours_ahead is around noon; -12 … +11
    return f"Etc/GMT{-hours_ahead:+d}" if hours_ahead else "Etc/UTC"


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    """A participant randomised today who agreed to SMS reminders in Bangla: W2 … W24 lie ahead."""
    list_in_use(statistician)
    return randomised_on(site_today(site), site, coordinator, investigator)


@pytest.fixture
def daytime_site(site: Any) -> Any:
    """The test site moved to a time zone where it is midday now."""
    with acting_as(system_user()):
        site.time_zone = daytime_zone()
        site.save()
    return site


@pytest.fixture(autouse=True)
def _eager_retries() -> Iterator[None]:
    """Eager tasks retry in place only when their errors are not propagated (Celery re-applies a Retry then)."""
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True
