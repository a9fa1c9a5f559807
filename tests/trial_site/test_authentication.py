"""Logging in and out, lockout after repeated failures, password rules, idle sessions, two-factor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.processes import read_settings
from tests.trial_site.session_clock import session_age_back
from trial_site.models import AccessEvent
from trial_site.roles import Role

PRODUCTION = "trial_site.settings.production"
LOGIN = "/accounts/login/"


def log_in(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def coordinator(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR)


def test_login_and_logout_are_in_the_access_log(client: Client, coordinator: Any, password: str) -> None:
    response = log_in(client, "coordinator", password)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get("/").status_code == 200
    client.post(reverse("logout"))
    kinds = list(AccessEvent.objects.filter(username="coordinator").order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["login", "logout"]
    assert client.get("/").status_code == 302


def test_wrong_password_says_so_next_to_the_form(client: Client, coordinator: Any) -> None:
    response = log_in(client, "coordinator", "not-the-password-at-all")
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    assert AccessEvent.objects.get().kind == "login_failed"


def test_five_failures_lock_the_account_and_the_lockout_is_logged(
    client: Client, coordinator: Any, password: str
) -> None:
    for _ in range(4):
        assert log_in(client, "coordinator", "wrong-password-123").status_code == 200
    fifth = log_in(client, "coordinator", "wrong-password-123")
    assert fifth.status_code == 429
    assert "Account locked" in fifth.content.decode()

    # Even the right password is refused now, from the same address.
    locked = log_in(client, "coordinator", password)
    assert locked.status_code == 429
    assert client.get("/").status_code == 302

    events = AccessEvent.objects.filter(username="coordinator")
    # Five wrong passwords, then the right one refused while locked: six failures.
    assert events.filter(kind="login_failed").count() == 6
    assert events.filter(kind="lockout").exists()
    assert not events.filter(kind="login").exists()


def test_lockout_ends_after_the_thirty_minute_cool_off(client: Client, coordinator: Any, password: str) -> None:
    from axes.models import AccessAttempt

    for _ in range(5):
        log_in(client, "coordinator", "wrong-password-123")
    assert log_in(client, "coordinator", password).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    assert log_in(client, "coordinator", password).status_code == 302


@pytest.mark.parametrize(
    ("candidate", "accepted"),
    [("Rheum-Dhaka1", True), ("Rheum-Dhaka", False)],
    ids=["12 characters", "11 characters"],
)
def test_passwords_need_at_least_twelve_characters(candidate: str, accepted: bool) -> None:
    if accepted:
        validate_password(candidate)
    else:
        with pytest.raises(ValidationError, match="at least 12 characters"):
            validate_password(candidate)


def test_sessions_expire_after_thirty_idle_minutes_and_a_request_renews_them(
    client: Client, coordinator: Any, password: str
) -> None:
    # A request renews the 30 minutes once 2 have passed since the last save (tests/trial_site/
    # test_session_renewal.py); the stored session is aged, in the database and in Redis, instead of waiting.
    log_in(client, "coordinator", password)
    session = Session.objects.get()
    assert timedelta(minutes=29) < session.expire_date - timezone.now() <= timedelta(minutes=30)

    session_age_back(session.pk, timedelta(minutes=25))
    assert client.get("/").status_code == 200
    renewed = Session.objects.get(pk=session.pk).expire_date
    assert renewed - timezone.now() > timedelta(minutes=29)

    session_age_back(session.pk, timedelta(minutes=30, seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_session_cookie_ends_with_the_browser(client: Client, coordinator: Any, password: str) -> None:
    response = log_in(client, "coordinator", password)
    cookie = response.cookies["sessionid"]
    assert cookie["expires"] == "" and cookie["max-age"] == ""
    assert cookie["httponly"]


class TestTwoFactor:
    @pytest.fixture(autouse=True)
    def required(self, settings: Any) -> None:
        settings.TWO_FACTOR_REQUIRED = True
        # django-otp makes a user wait 1 s, 2 s, 4 s … after each wrong code; these tests do not wait.
        settings.OTP_TOTP_THROTTLE_FACTOR = 0

    def test_first_login_leads_to_enrolment_and_a_valid_code_opens_the_system(
        self, client: Client, coordinator: Any, password: str
    ) -> None:
        log_in(client, "coordinator", password)
        response = client.get("/sites/")
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("two_factor_setup"))

        page = client.get(response["Location"])
        assert page.status_code == 200
        assert b"<svg" in page.content and b'data-testid="totp-secret"' in page.content

        wrong = client.post(reverse("two_factor_setup"), {"token": "000000", "next": "/sites/"})
        assert wrong.status_code == 200
        assert "That code is not right" in wrong.content.decode()
        assert client.get("/sites/").status_code == 302

        device = TOTPDevice.objects.get(user=coordinator)
        right = client.post(reverse("two_factor_setup"), {"token": f"{totp(device.bin_key):06d}", "next": "/sites/"})
        assert right.status_code == 302 and right["Location"] == "/sites/"
        assert client.get("/sites/").status_code == 200
        assert TOTPDevice.objects.get(user=coordinator).confirmed
        assert AccessEvent.objects.filter(kind="two_factor_enrolled", username="coordinator").exists()
        assert AccessEvent.objects.filter(kind="two_factor_failed", username="coordinator").exists()

    def test_later_logins_ask_for_a_code(self, client: Client, coordinator: Any, password: str) -> None:
        device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
        log_in(client, "coordinator", password)
        response = client.get("/")
        assert response["Location"].startswith(reverse("two_factor_verify"))
        garbage = client.post(reverse("two_factor_verify"), {"token": "12ab"})
        assert "Enter the 6 digits" in garbage.content.decode()
        client.post(reverse("two_factor_verify"), {"token": f"{totp(device.bin_key):06d}"})
        assert client.get("/").status_code == 200

    def test_an_outside_next_address_is_not_followed(self, client: Client, coordinator: Any, password: str) -> None:
        device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
        log_in(client, "coordinator", password)
        response = client.post(
            reverse("two_factor_verify"),
            {"token": f"{totp(device.bin_key):06d}", "next": "https://evil.example/"},
        )
        assert response["Location"] == reverse("home")


def test_production_settings_require_two_factor_even_if_the_environment_says_no() -> None:
    result = read_settings(
        "settings.TWO_FACTOR_REQUIRED", module=PRODUCTION, SECRET_KEY="x" * 60, TWO_FACTOR_REQUIRED="false"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    result = read_settings("settings.SECRET_KEY", module=PRODUCTION)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_code_typed_with_bangla_digits_is_understood() -> None:
    from trial_site.forms import OneTimeCodeForm

    form = OneTimeCodeForm({"token": "১২৩৪৫৬"})
    assert form.is_valid() and form.cleaned_data["token"] == "123456"
    assert not OneTimeCodeForm({"token": "১২৩৪৫"}).is_valid()


def test_an_administrator_unlocks_a_locked_account_in_the_admin(
    client: Client, coordinator: Any, user_with_role: Any, password: str
) -> None:
    from axes.models import AccessAttempt

    for _ in range(5):
        log_in(client, "coordinator", "wrong-password-123")
    assert log_in(client, "coordinator", password).status_code == 429

    administrator = Client()
    administrator.force_login(user_with_role(Role.ADMINISTRATOR))
    attempt = AccessAttempt.objects.get(username="coordinator")
    listing = administrator.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "coordinator" in listing.content.decode()
    response = administrator.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert log_in(client, "coordinator", password).status_code == 302
