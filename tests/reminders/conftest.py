"""Fixtures of the reminder tests: a real SMS gateway stand-in on loopback, and settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.reminders.sms_gateway import SmsGatewayStandIn


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
