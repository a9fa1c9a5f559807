"""The Staff pages: an administrator manages the accounts and roles of their own sites (create, correct, deactivate,
grant and end roles, a one-time password link), each change in the history with who, when, old → new and why;
everyone changes their own password."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import make_user, system_user
from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.roles import Role
from trial_site.services import membership_grant

NEW_PASSWORD = "Rheum-Dhaka-2027"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def administrator(user_with_role: Any) -> Any:
    return user_with_role(Role.ADMINISTRATOR)


@pytest.fixture
def admin_client(administrator: Any) -> Client:
    return logged_in(administrator)


def can_log_in(username: str, password: str) -> bool:
    return Client().post("/accounts/login/", {"username": username, "password": password}).status_code == 302


def test_the_staff_section_is_the_administrators_and_change_password_is_everyones(
    admin_client: Client, coordinator: Any
) -> None:
    home = admin_client.get("/").content.decode()
    assert 'data-testid="home-section-staff"' in home and 'href="/accounts/password/"' in home
    staff = logged_in(coordinator)
    assert 'data-testid="home-section-staff"' not in staff.get("/").content.decode()
    assert 'href="/accounts/password/"' in staff.get("/").content.decode()
    assert staff.get("/staff/").status_code == 403
    assert AccessEvent.objects.filter(kind="access_denied", path="/staff/", username="coordinator").exists()


def test_an_administrator_creates_an_account_at_their_site_with_a_reason_in_the_history(
    admin_client: Client, administrator: Any, site: Site
) -> None:
    form = admin_client.get("/staff/new/")
    assert form.status_code == 200 and 'name="submission_key"' in form.content.decode()
    response = admin_client.post(
        "/staff/new/",
        {"username": "nasrin", "first_name": "Nasrin", "last_name": "Akter", "email": "nasrin@example.org",
         "site": site.pk, "role": Role.COORDINATOR.value, "reason": "new research nurse"},
    )  # fmt: skip
    account = get_user_model().objects.get(username="nasrin")
    assert response.status_code == 302 and response["Location"] == f"/staff/{account.pk}/"
    assert not account.has_usable_password() and account.is_active and not account.is_staff
    membership = StaffMembership.objects.get(user=account)
    assert (membership.site, membership.role, membership.is_active) == (site, "coordinator", True)
    created = account.history.get()
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+", administrator, "new research nurse"
    )  # fmt: skip
    assert membership.history.get().history_user == administrator
    assert "password" not in {field.name for field in type(created)._meta.fields}  # no password hash in history
    page = admin_client.get(f"/staff/{account.pk}/").content.decode()
    assert "new research nurse" in page and "Coordinator" in page


def test_an_account_is_created_only_at_the_administrators_own_sites(admin_client: Client, other_site: Site) -> None:
    response = admin_client.post(
        "/staff/new/",
        {"username": "intruder", "first_name": "In", "site": other_site.pk, "role": Role.INVESTIGATOR.value,
         "reason": "covering"},
    )  # fmt: skip
    assert response.status_code == 400
    assert not get_user_model().objects.filter(username="intruder").exists()


def test_roles_are_granted_and_ended_at_the_administrators_sites_only(
    admin_client: Client, administrator: Any, coordinator: Any, site: Site, other_site: Site
) -> None:
    granted = admin_client.post(
        f"/staff/{coordinator.pk}/roles/", {"site": site.pk, "role": "investigator", "reason": "delegation log"}
    )
    assert granted.status_code == 302
    membership = StaffMembership.objects.get(user=coordinator, role="investigator")
    assert membership.is_active and membership.history.get().history_change_reason == "delegation log"

    elsewhere = admin_client.post(
        f"/staff/{coordinator.pk}/roles/", {"site": other_site.pk, "role": "investigator", "reason": "covering"}
    )
    assert elsewhere.status_code == 302
    assert not StaffMembership.objects.filter(user=coordinator, site=other_site).exists()

    ended = admin_client.post(f"/staff/roles/{membership.pk}/end/", {"reason": "left the trial team"})
    assert ended.status_code == 302
    membership.refresh_from_db()
    assert not membership.is_active
    latest = membership.history.first()
    assert (latest.history_user, latest.history_change_reason) == (administrator, "left the trial team")
    page = admin_client.get(f"/staff/{coordinator.pk}/").content.decode()
    assert "Active: yes → no" in page and "left the trial team" in page

    ctg = make_user("ctg-coordinator", role=Role.COORDINATOR, site=other_site)
    foreign = StaffMembership.objects.get(user=ctg)
    assert admin_client.post(f"/staff/roles/{foreign.pk}/end/", {"reason": "x"}).status_code == 404
    assert admin_client.get(f"/staff/{ctg.pk}/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active
    denied = AccessEvent.objects.filter(kind="access_denied", username=administrator.username)
    assert {event.path for event in denied} >= {f"/staff/roles/{foreign.pk}/end/", f"/staff/{ctg.pk}/"}


def test_an_administrator_may_make_another_administrator_at_their_site_but_not_change_themself(
    admin_client: Client, administrator: Any, coordinator: Any, site: Site
) -> None:
    assert admin_client.post(
        f"/staff/{coordinator.pk}/roles/", {"site": site.pk, "role": "administrator", "reason": "deputy"}
    ).status_code == 302  # fmt: skip
    coordinator.refresh_from_db()
    assert coordinator.is_staff  # the admin site follows the role
    assert coordinator.history.first().history_change_reason == "administrator role held: admin site opened"

    own = StaffMembership.objects.get(user=administrator)
    assert admin_client.post(
        f"/staff/{administrator.pk}/roles/", {"site": site.pk, "role": "investigator", "reason": "self"}
    ).status_code == 403  # fmt: skip
    assert admin_client.post(f"/staff/roles/{own.pk}/end/", {"reason": "self"}).status_code == 403
    assert admin_client.post(f"/staff/{administrator.pk}/active/", {"active": "0", "reason": "x"}).status_code == 403
    assert not StaffMembership.objects.filter(user=administrator, role="investigator").exists()


def test_deactivating_an_account_stops_its_logins_and_is_in_the_history(
    admin_client: Client, administrator: Any, coordinator: Any, password: str
) -> None:
    response = admin_client.post(f"/staff/{coordinator.pk}/active/", {"active": "0", "reason": "left the trial"})
    assert response.status_code == 302
    coordinator.refresh_from_db()
    assert not coordinator.is_active and not can_log_in("coordinator", password)
    page = admin_client.get(f"/staff/{coordinator.pk}/").content.decode()
    assert "Active: yes → no" in page and "left the trial" in page and administrator.get_full_name() in page
    assert admin_client.post(f"/staff/{coordinator.pk}/active/", {"active": "1", "reason": "back"}).status_code == 302
    assert can_log_in("coordinator", password)


def test_an_account_that_also_works_elsewhere_is_changed_only_by_an_administrator_of_all_its_sites(
    admin_client: Client, coordinator: Any, other_site: Site, password: str
) -> None:
    membership_grant(user=coordinator, site=other_site, role=Role.INVESTIGATOR, by=system_user())
    page = admin_client.get(f"/staff/{coordinator.pk}/").content.decode()
    assert 'data-testid="staff-not-manageable"' in page and "CTG" not in page
    for path, body in (
        (f"/staff/{coordinator.pk}/active/", {"active": "0", "reason": "x"}),
        (f"/staff/{coordinator.pk}/password-link/", {"reason": "x"}),
        (f"/staff/{coordinator.pk}/edit/", {"first_name": "X", "reason": "x"}),
    ):
        assert admin_client.post(path, body).status_code == 403, path
    coordinator.refresh_from_db()
    assert coordinator.is_active and coordinator.first_name == "Coordinator" and can_log_in("coordinator", password)


def test_a_password_link_resets_the_password_works_once_and_follows_the_rules(
    admin_client: Client, administrator: Any, coordinator: Any, password: str
) -> None:
    page = admin_client.post(f"/staff/{coordinator.pk}/password-link/", {"reason": "forgot the password"})
    assert page.status_code == 200
    link = re.search(
        r'data-testid="password-link">http://testserver(/accounts/set-password/\?key=[^<]+)<', page.content.decode()
    )
    assert link is not None
    assert not can_log_in("coordinator", password)  # the old password stops working at once
    reset = coordinator.history.first()
    assert (reset.history_user, reset.history_change_reason) == (
        administrator,
        "password reset, one-time link issued: forgot the password",
    )

    person = Client()
    opened = person.get(link.group(1).replace("&amp;", "&"))
    assert opened.status_code == 302 and opened["Location"] == "/accounts/set-password/"  # the key leaves the address
    assert "coordinator" in person.get("/accounts/set-password/").content.decode()
    weak = person.post("/accounts/set-password/", {"new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 400 and "at least 12 characters" in weak.content.decode()
    chosen = person.post("/accounts/set-password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert chosen.status_code == 302
    assert can_log_in("coordinator", NEW_PASSWORD)
    assert coordinator.history.first().history_change_reason == "password chosen with a one-time link"

    again = Client()
    again.get(link.group(1).replace("&amp;", "&"))
    reused = again.get("/accounts/set-password/").content.decode()
    assert 'data-testid="password-link-invalid"' in reused


def test_staff_change_their_own_password_with_the_current_one_and_the_rules(coordinator: Any, password: str) -> None:
    client = logged_in(coordinator)
    assert client.get("/accounts/password/").status_code == 200
    wrong = client.post(
        "/accounts/password/", {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    weak = client.post("/accounts/password/", {"old_password": password, "new_password1": "123456789012",
                                               "new_password2": "123456789012"})  # fmt: skip
    assert weak.status_code == 400 and "entirely numeric" in weak.content.decode()
    done = client.post(
        "/accounts/password/", {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # still logged in
    assert can_log_in("coordinator", NEW_PASSWORD) and not can_log_in("coordinator", password)
    latest = coordinator.history.first()
    assert (latest.history_user, latest.history_change_reason) == (coordinator, "password changed by its owner")


def test_a_name_correction_shows_old_and_new_and_the_username_never_changes(
    admin_client: Client, administrator: Any, coordinator: Any
) -> None:
    response = admin_client.post(
        f"/staff/{coordinator.pk}/edit/",
        {"first_name": "Nasrin", "last_name": "Akter", "email": "nasrin@example.org", "username": "nasrin",
         "reason": "name as on the delegation log"},
    )  # fmt: skip
    assert response.status_code == 302
    coordinator.refresh_from_db()
    assert coordinator.username == "coordinator" and coordinator.get_full_name() == "Nasrin Akter"
    page = admin_client.get(f"/staff/{coordinator.pk}/").content.decode()
    assert "First name: Coordinator → Nasrin" in page and "name as on the delegation log" in page
    assert admin_client.post(f"/staff/{coordinator.pk}/edit/", {"first_name": "X", "reason": ""}).status_code == 400


def test_logins_write_no_history_rows(coordinator: Any, password: str) -> None:
    rows = coordinator.history.count()
    assert can_log_in("coordinator", password)
    assert coordinator.history.count() == rows


def test_the_staff_list_runs_a_fixed_number_of_queries(
    admin_client: Client, site: Site, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(20) as few:
        admin_client.get("/staff/")
    for number in range(15):
        make_user(f"nurse{number}", role=Role.COORDINATOR, site=site)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get("/staff/")
    assert response.content.decode().count("/staff/") >= 15
    assert "nurse3" in admin_client.get("/staff/?q=nurse3").content.decode()
    assert "nurse4" not in admin_client.get("/staff/?q=nurse3").content.decode()
