"""The least-privilege findings of the outside testers (issue 18: findings 1, 3 and 8's lockout and own password),
replayed as they found them: over real HTTP against gunicorn's worker processes on PostgreSQL.

- An administrator cannot make a superuser, give a permission or a group, or rename a user through the admin;
  a role given on the Staff pages is in the history with who and why, and only at the administrator's own sites.
- Wrong passwords re-entered to sign lock signing as they lock the login: the right password afterwards signs
  nothing.
- Staff change their own password, re-entering the current one.
- Lockout behind the reverse proxy is per client (the address the trusted proxy adds), and a forged
  ``X-Forwarded-For`` from anywhere else neither escapes a lockout nor lands it on somebody else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from monitoring.models import Signature
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, StaffSession
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.models import AccessEvent, StaffMembership
from trial_site.roles import Role
from visits import services as visit_services

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]

WRONG = "not-my-password-at-all"
LIMIT = 5  # AXES_FAILURE_LIMIT


@pytest.fixture
def administrator(user_with_role: Any) -> Any:
    return user_with_role(Role.ADMINISTRATOR)


def login_answer(server: GunicornServer, username: str, password: str, *, forwarded: str | None = None) -> int:
    """The status of one login from a new browser, with an optional X-Forwarded-For."""
    session = server.session()
    page = session.get("/accounts/login/")
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    answer = session.post(
        "/accounts/login/", {"username": username, "password": password}, from_page=page, headers=headers
    )
    return answer.status_code


def test_an_administrator_cannot_make_a_superuser_give_a_permission_or_rename_through_the_admin(
    live_gunicorn: GunicornServer,  # noqa: F811
    administrator: Any,
    assessor: Any,
) -> None:
    session = live_gunicorn.login(administrator)
    view_arm = Permission.objects.get(codename="view_arm")
    investigators = Group.objects.get(name="role: investigator")
    change = f"/admin/auth/user/{assessor.pk}/change/"
    tried = session.post(
        change,
        {"username": "someone-else", "is_superuser": "on", "is_staff": "on", "is_active": "on",
         "user_permissions": [str(view_arm.pk)], "groups": [str(investigators.pk)]},
        from_page="/admin/",
    )  # fmt: skip
    assert tried.status_code == 404
    assert session.get("/admin/auth/group/").status_code == 404
    assessor.refresh_from_db()
    assert (assessor.username, assessor.is_superuser, assessor.is_staff) == ("blinded_assessor", False, False)
    assert not assessor.user_permissions.exists()
    assert set(assessor.groups.values_list("name", flat=True)) == {"role: blinded_assessor"}
    assert "randomization.view_arm" not in get_user_model().objects.get(pk=assessor.pk).get_all_permissions()


def test_a_role_granted_on_the_staff_pages_is_in_the_history_and_only_at_the_administrators_sites(
    live_gunicorn: GunicornServer,  # noqa: F811
    administrator: Any,
    assessor: Any,
    site: Any,
    other_site: Any,
) -> None:
    session = live_gunicorn.login(administrator)
    page = session.get(f"/staff/{assessor.pk}/")
    assert page.status_code == 200
    elsewhere = session.post(
        f"/staff/{assessor.pk}/roles/",
        {"site": str(other_site.pk), "role": Role.INVESTIGATOR.value, "reason": "covering at CTG"},
        from_page=page,
    )
    assert elsewhere.status_code == 302
    assert not StaffMembership.objects.filter(user=assessor, site=other_site).exists()

    granted = session.post(
        f"/staff/{assessor.pk}/roles/",
        {"site": str(site.pk), "role": Role.COORDINATOR.value, "reason": "delegation log signed 3 Dec"},
        from_page=page,
    )
    assert granted.status_code == 302
    membership = StaffMembership.objects.get(user=assessor, site=site, role=Role.COORDINATOR)
    row = membership.history.get()
    assert (row.history_user, row.history_change_reason) == (administrator, "delegation log signed 3 Dec")


def test_wrong_passwords_re_entered_to_sign_lock_signing_and_the_right_one_then_signs_nothing(
    live_gunicorn: GunicornServer,  # noqa: F811
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
    password: str,
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    session = live_gunicorn.login(investigator)
    sign = f"/monitoring/signatures/sign/?scope=visit&visit={d1.pk}"
    page = session.get(sign)
    assert page.status_code == 200

    statuses = [session.post(sign, {"password": WRONG}, from_page=page).status_code for _ in range(8)]
    assert statuses[: LIMIT - 1] == [400] * (LIMIT - 1) and set(statuses[LIMIT - 1 :]) == {429}, statuses
    locked = session.post(sign, {"password": password}, from_page=page)
    assert locked.status_code == 429 and "Account locked" in locked.text
    assert not Signature.objects.exists()
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOCKOUT, username=investigator.username).exists()
    assert login_answer(live_gunicorn, investigator.username, password) == 429


def test_staff_change_their_own_password_re_entering_the_current_one(
    live_gunicorn: GunicornServer,  # noqa: F811
    coordinator: Any,
    password: str,
) -> None:
    session = live_gunicorn.login(coordinator)
    page = session.get("/accounts/password/")
    assert page.status_code == 200
    new = "a-fresh-passphrase-for-dhaka-2026"
    wrong = session.submit(page, "//form[.//input[@name='old_password']]", old_password=WRONG,
                           new_password1=new, new_password2=new)  # fmt: skip
    assert wrong.status_code == 400
    weak = session.submit(page, "//form[.//input[@name='old_password']]", old_password=password,
                          new_password1="12345678", new_password2="12345678")  # fmt: skip
    assert weak.status_code == 400
    changed = session.submit(page, "//form[.//input[@name='old_password']]", old_password=password,
                             new_password1=new, new_password2=new)  # fmt: skip
    assert changed.status_code == 302
    assert login_answer(live_gunicorn, coordinator.username, password) == 200  # the old one is refused: the form again
    assert isinstance(live_gunicorn.login(coordinator, new), StaffSession)
    row = get_user_model().objects.get(pk=coordinator.pk).history.first()
    assert row.history_user == coordinator


def test_behind_the_trusted_proxy_one_client_failing_locks_that_client_only(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    coordinator: Any,
    password: str,
) -> None:
    server = start_gunicorn(env={"TRUSTED_PROXIES": "127.0.0.1"})
    attacker, colleague = "198.51.100.7", "198.51.100.8"
    for number in range(LIMIT):
        login_answer(server, f"guess-{number}", WRONG, forwarded=attacker)
    assert login_answer(server, coordinator.username, password, forwarded=attacker) == 429
    assert login_answer(server, coordinator.username, password, forwarded=colleague) == 302


def test_a_forged_forwarded_for_from_an_untrusted_address_neither_escapes_nor_places_a_lockout(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    coordinator: Any,
    password: str,
) -> None:
    server = start_gunicorn(env={"TRUSTED_PROXIES": "10.77.0.2"})  # the proxy is elsewhere: 127.0.0.1 is a client
    for number in range(LIMIT):
        login_answer(server, f"guess-{number}", WRONG, forwarded=f"203.0.113.{number}")
    # Every failure counted against 127.0.0.1, whatever the header said: a new header does not escape it ...
    assert login_answer(server, coordinator.username, password, forwarded="203.0.113.99") == 429
    # ... and the addresses the header named were never charged with anything.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}
