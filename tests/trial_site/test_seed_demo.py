"""The demo data: one site, one user per role, each able to log in with the password printed once."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import Client

from trial_site.management.commands.seed_demo import DEMO_USERS
from trial_site.models import Site
from trial_site.roles import Role


def seed(*args: str) -> dict[str, str]:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return dict(re.findall(r"^  (\w+)\s+(\S+)\s+", out.getvalue(), flags=re.MULTILINE))


def can_log_in(username: str, password: str) -> bool:
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


def test_seed_demo_creates_the_site_and_a_working_login_per_role(db: Any) -> None:
    passwords = seed()
    site = Site.objects.get(code="DHK")
    assert site.name == "BSMMU Dhaka" and site.time_zone == "Asia/Dhaka"
    assert set(passwords) == {username for username, *_ in DEMO_USERS}
    assert {role for _, role, *_ in DEMO_USERS} == set(Role)
    for username, role, *_ in DEMO_USERS:
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": passwords[username]})
        assert response.status_code == 302, username
        assert str(role.label) in client.get("/").content.decode()


def test_seed_demo_again_keeps_passwords_unless_asked(db: Any) -> None:
    first = seed()
    again = seed()
    assert set(again.values()) == {"(unchanged)"}
    assert can_log_in("monitor", first["monitor"])
    reset = seed("--reset-passwords")
    assert reset["monitor"] != first["monitor"]
    assert can_log_in("monitor", reset["monitor"])
    assert not can_log_in("monitor", first["monitor"])
    assert Site.objects.count() == 1
