"""Lockout per username and per client address, separately, and the client's address behind the reverse proxy.

Five failed logins for one username (from any addresses) lock that username; five from one client address (for any
usernames) lock that address; each for 30 minutes. ``X-Forwarded-For`` names the client only when the request comes
from a trusted proxy (``TRUSTED_PROXIES``): from anywhere else it is ignored, so a forged header neither escapes a
lockout nor pins one on somebody else's address, and behind the proxy one client's failures lock that client, not
the proxy's address that everybody shares. Every request goes through the full stack (Django's test client).
"""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory

from trial_site.models import AccessEvent
from trial_site.proxies import client_address
from trial_site.roles import Role

LOGIN = "/accounts/login/"
PROXY = "10.77.0.2"  # the reverse proxy's address, as docker-compose.yml fixes it for its own network
WRONG = "wrong-password-123"
LIMIT = 5  # AXES_FAILURE_LIMIT


def log_in(username: str, password: str, *, address: str, forwarded: str | None = None) -> Any:
    """One login from a new browser, arriving from ``address`` (REMOTE_ADDR) with an optional X-Forwarded-For."""
    headers = {"REMOTE_ADDR": address}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().post(LOGIN, {"username": username, "password": password}, **headers)


@pytest.fixture(autouse=True)
def trusted_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXIES = [PROXY]


@pytest.fixture
def coordinator(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR)


@pytest.fixture
def investigator(user_with_role: Any) -> Any:
    return user_with_role(Role.INVESTIGATOR)


def recorded_addresses() -> set[str]:
    return set(AccessAttempt.objects.values_list("ip_address", flat=True))


# --- Per address and per username ------------------------------------------------------------------------------


def test_failures_from_one_address_against_many_usernames_lock_that_address(coordinator: Any, password: str) -> None:
    for number in range(LIMIT - 1):
        assert log_in(f"guess-{number}", WRONG, address="198.51.100.7").status_code == 200
    # The fifth failure locks the address, and says so.
    assert log_in("guess-last", WRONG, address="198.51.100.7").status_code == 429
    # The right password of a real account, from the locked address: refused.
    assert log_in("coordinator", password, address="198.51.100.7").status_code == 429
    # The same account from another address: that username has no failure against it.
    assert log_in("coordinator", password, address="198.51.100.8").status_code == 302
    assert AccessEvent.objects.filter(kind="lockout").exists()


def test_failures_against_one_username_from_many_addresses_lock_that_username(
    coordinator: Any, investigator: Any, password: str
) -> None:
    for number in range(LIMIT):
        log_in("coordinator", WRONG, address=f"198.51.100.{10 + number}")
    # A sixth address, with the right password: the username is locked, wherever the attempt comes from.
    assert log_in("coordinator", password, address="198.51.100.99").status_code == 429
    # That address has failed only once: another user logs in from it.
    assert log_in("investigator", password, address="198.51.100.10").status_code == 302


def test_five_failures_from_one_address_lock_the_username_for_every_address(coordinator: Any, password: str) -> None:
    """The choice documented in docs/architecture.md ("Authentication"): the username's count does not depend on
    where the failures come from, so a password is never guessed more than five times per cool-off, at the price
    that anyone can lock a known username for 30 minutes."""
    for _ in range(LIMIT):
        log_in("coordinator", WRONG, address="198.51.100.7")
    assert log_in("coordinator", password, address="203.0.113.5").status_code == 429
    assert log_in("coordinator", password, address=PROXY, forwarded="203.0.113.6").status_code == 429


# --- The client's address and X-Forwarded-For ----------------------------------------------------------------


def test_forwarded_for_from_an_untrusted_address_is_ignored(coordinator: Any, password: str) -> None:
    # Each failure claims another client address; none is believed.
    for number in range(LIMIT):
        log_in(f"guess-{number}", WRONG, address="198.51.100.7", forwarded=f"203.0.113.{number + 1}")
    assert recorded_addresses() == {"198.51.100.7"}
    assert log_in("coordinator", password, address="198.51.100.7", forwarded="203.0.113.200").status_code == 429
    assert set(AccessEvent.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_a_forged_forwarded_for_cannot_lock_out_the_address_it_names(coordinator: Any, password: str) -> None:
    for number in range(LIMIT):
        log_in(f"guess-{number}", WRONG, address="198.51.100.7", forwarded="203.0.113.5")
    # The real 203.0.113.5, through the proxy: not locked.
    assert log_in("coordinator", password, address=PROXY, forwarded="203.0.113.5").status_code == 302


def test_behind_the_trusted_proxy_each_client_is_locked_out_alone(coordinator: Any, password: str) -> None:
    for number in range(LIMIT):
        log_in(f"guess-{number}", WRONG, address=PROXY, forwarded="203.0.113.5")
    assert recorded_addresses() == {"203.0.113.5"}
    assert log_in("coordinator", password, address=PROXY, forwarded="203.0.113.5").status_code == 429
    # Another client through the same proxy: the proxy's address is not locked, so neither is everybody.
    assert log_in("coordinator", password, address=PROXY, forwarded="203.0.113.6").status_code == 302
    assert AccessEvent.objects.filter(kind="login").get().ip_address == "203.0.113.6"


def test_behind_the_proxy_the_client_is_the_address_the_proxy_added(coordinator: Any) -> None:
    """A proxy that appends (rather than replaces) X-Forwarded-For: what the client wrote is on the left."""
    log_in("coordinator", WRONG, address=PROXY, forwarded="192.0.2.66, 203.0.113.5")
    assert recorded_addresses() == {"203.0.113.5"}


def test_without_a_trusted_proxy_the_header_is_ignored_from_every_address(settings: Any, coordinator: Any) -> None:
    settings.TRUSTED_PROXIES = []
    log_in("coordinator", WRONG, address=PROXY, forwarded="203.0.113.5")
    assert recorded_addresses() == {PROXY}


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),
        (PROXY, "203.0.113.5", "203.0.113.5"),
        (PROXY, " 192.0.2.66 ,203.0.113.5 ", "203.0.113.5"),
        (PROXY, f"203.0.113.5, {PROXY}", "203.0.113.5"),  # a second trusted hop is skipped
        (PROXY, "not-an-address", PROXY),
        (PROXY, "203.0.113.5, not-an-address", PROXY),
        (PROXY, "", PROXY),
        (PROXY, "2001:db8::5", "2001:db8::5"),
        (f"::ffff:{PROXY}", "203.0.113.5", "203.0.113.5"),
    ],
)
def test_client_address(remote: str, forwarded: str, client: str) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def test_a_trusted_network_trusts_each_of_its_addresses(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.77.0.0/24"]
    request = RequestFactory().get("/", REMOTE_ADDR="10.77.0.9", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_address(request) == "203.0.113.5"
