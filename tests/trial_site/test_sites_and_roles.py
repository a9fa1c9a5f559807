"""Sites, roles and permissions: what each role sees, and that no one sees another site's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import make_site, make_user, system_user
from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.navigation import SECTIONS
from trial_site.roles import ROLE_PERMISSIONS, Role, group_name
from trial_site.scoping import scope_to_user_sites
from trial_site.services import membership_end, membership_grant, role_groups_apply

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_user_of_site_a_gets_404_on_site_b_and_the_attempt_is_logged(
    user_with_role: Any, other_site: Site, caplog: Any
) -> None:
    coordinator = user_with_role(Role.COORDINATOR)
    client = logged_in(coordinator)
    assert client.get("/sites/DHK/").status_code == 200

    with caplog.at_level("WARNING", logger="trial_site.security"):
        response = client.get("/sites/CTG/")
    assert response.status_code == 404
    assert "belongs to a site you do not work at" in response.content.decode()
    assert "cross-site access refused" in caplog.text
    event = AccessEvent.objects.get(kind="access_denied")
    assert event.username == "coordinator" and event.path == "/sites/CTG/"


def test_a_site_that_does_not_exist_is_a_plain_404(user_with_role: Any) -> None:
    client = logged_in(user_with_role(Role.COORDINATOR))
    assert client.get("/sites/NOPE/").status_code == 404
    assert not AccessEvent.objects.filter(kind="access_denied").exists()


def test_scoping_follows_memberships_and_their_end(site: Site, other_site: Site) -> None:
    monitor = make_user("monitor", role=Role.MONITOR, site=site)
    assert list(scope_to_user_sites(Site.objects.all(), monitor)) == [site]

    membership_grant(user=monitor, site=other_site, role=Role.MONITOR, by=system_user())
    assert set(scope_to_user_sites(Site.objects.all(), monitor)) == {site, other_site}

    membership = StaffMembership.objects.get(user=monitor, site=other_site)
    membership_end(membership=membership, by=system_user(), reason="moved to another trial")
    assert list(scope_to_user_sites(Site.objects.all(), monitor)) == [site]
    ended = membership.history.first()
    assert ended.history_change_reason == "moved to another trial" and not ended.is_active


def test_the_site_list_shows_only_own_sites_with_a_fixed_number_of_queries(
    site: Site, django_assert_max_num_queries: Any
) -> None:
    coordinator = make_user("coordinator", role=Role.COORDINATOR, site=site)
    client = logged_in(coordinator)
    with django_assert_max_num_queries(12) as few:
        client.get("/sites/")
    for number in range(20):
        extra = make_site(code=f"S{number:02d}")
        make_user(f"staff{number}", role=Role.COORDINATOR, site=extra)
        membership_grant(user=coordinator, site=extra, role=Role.COORDINATOR, by=system_user())
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/sites/")
    assert response.content.decode().count("/sites/S") == 20


def test_role_groups_hold_exactly_the_permissions_defined_in_code(db: Any) -> None:
    assert role_groups_apply() == [], "a permission named in trial_site.roles does not exist"
    role_groups_apply()  # idempotent
    for role in Role:
        group = Group.objects.get(name=group_name(role))
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(ROLE_PERMISSIONS[role]), role


def test_memberships_put_users_in_their_role_groups_and_only_administrators_in_the_admin(site: Site) -> None:
    admin = make_user("admin", role=Role.ADMINISTRATOR, site=site)
    investigator = make_user("investigator", role=Role.INVESTIGATOR, site=site)
    assert admin.is_staff and not investigator.is_staff
    assert admin.has_perm("trial_site.add_staffmembership")
    assert not investigator.has_perm("trial_site.add_staffmembership")
    assert logged_in(investigator).get("/admin/").status_code == 302
    assert logged_in(admin).get("/admin/").status_code == 200


_SITE_TEAM = {
    "screening", "randomization", "visits", "record_status", "safety", "reminders", "monitoring", "reports", "sites"
}  # fmt: skip
_ADMINISTRATION = {"staff", "access_log"}
# Every role reads the protocol and its amendments ("protocol").
EXPECTED_MENU = {
    Role.COORDINATOR: _SITE_TEAM | {"protocol"},
    Role.INVESTIGATOR: _SITE_TEAM | {"protocol"},
    Role.BLINDED_ASSESSOR: {"screening", "randomization", "visits", "record_status", "reports", "sites", "protocol"},
    Role.MONITOR: _SITE_TEAM | {"access_log", "protocol"},
    Role.DATA_MANAGER: _SITE_TEAM | {"exports", "protocol"},
    Role.STATISTICIAN: {"randomization", "exports", "reports", "sites", "protocol"},
    Role.ADMINISTRATOR: {"randomization", "reminders", "monitoring", "exports", "reports", "sites", "protocol"}
    | _ADMINISTRATION,
}


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_each_role_has_its_own_home_page_and_menu(role: Role, user_with_role: Any) -> None:
    client = logged_in(user_with_role(role))
    page = client.get("/").content.decode()
    assert str(role.label) in page
    shown = {section.key for section in SECTIONS if f'data-testid="home-section-{section.key}"' in page}
    assert shown == EXPECTED_MENU[role]
    for section in SECTIONS:
        from django.urls import reverse

        status = client.get(reverse(section.url_name)).status_code
        assert status == (200 if section.key in EXPECTED_MENU[role] else 403), (section.key, status)


def test_a_refused_page_is_403_logged_and_friendly(user_with_role: Any, caplog: Any) -> None:
    client = logged_in(user_with_role(Role.STATISTICIAN))
    with caplog.at_level("WARNING", logger="trial_site.security"):
        response = client.get("/safety/")
    assert response.status_code == 403
    assert "You may not open this page" in response.content.decode()
    assert "permission denied" in caplog.text
    assert AccessEvent.objects.get(kind="access_denied").path == "/safety/"


def test_the_access_log_is_for_monitors_and_administrators_and_filters(
    user_with_role: Any, client: Client, password: str
) -> None:
    user_with_role(Role.MONITOR)
    coordinator = user_with_role(Role.COORDINATOR)
    client.post("/accounts/login/", {"username": "coordinator", "password": "wrong-password-1"})
    client.post("/accounts/login/", {"username": "monitor", "password": password})
    page = client.get("/access-log/?kind=login_failed").content.decode()
    assert "Failed login" in page and "coordinator" in page
    assert client.get("/access-log/?kind=nonsense").status_code == 200
    assert logged_in(coordinator).get("/access-log/").status_code == 403


def test_the_access_log_pages_with_a_fixed_number_of_queries(
    user_with_role: Any, django_assert_max_num_queries: Any
) -> None:
    client = logged_in(user_with_role(Role.MONITOR))
    for number in range(120):
        AccessEvent(kind="login_failed", username=f"someone{number}").save()
    with django_assert_max_num_queries(10):
        first = client.get("/access-log/").content.decode()
    assert "Page 1 of 3" in first
    assert "someone119" in first and "someone0<" not in first
    assert "someone0<" in client.get("/access-log/?page=3").content.decode()


def test_roles_doc_describes_every_role() -> None:
    text = (PROJECT_ROOT / "docs" / "roles.md").read_text()
    for role in Role:
        assert f"| {role.label} |" in text, f"docs/roles.md has no row for {role.label}"


def test_admin_history_of_a_site_names_the_user_of_the_request(site: Site, user_with_role: Any) -> None:
    admin = user_with_role(Role.ADMINISTRATOR)
    client = logged_in(admin)
    response = client.post(
        f"/admin/trial_site/site/{site.pk}/change/",
        {
            "code": "DHK",
            "name": "BSMMU Dhaka",
            "country": "Bangladesh",
            "time_zone": "Asia/Dhaka",
            "phone": "+8809666700111",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = site.history.first()
    assert latest.phone == "+8809666700111" and latest.history_user == admin
