"""Fixtures of the fault tests, shared with the reminder tests: a site where it is midday now (so a reminder sent
through a worker never meets quiet hours), and the SMS gateway stand-in on loopback."""

from __future__ import annotations

from tests.reminders.conftest import daytime_site, sms_gateway

__all__ = ["daytime_site", "sms_gateway"]
