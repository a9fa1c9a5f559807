"""No escalation: nobody makes a superuser, gives a permission or a group, renames a user or grants a role at another
site through the application; a role's permissions come only from ``trial_site/roles.py``; superusers skip no check;
signatures keep the name the signer had when signing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from monitoring.models import Signature
from screening.models import Participant
from tests.factories import make_user, system_user
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.models import Site, StaffMembership
from trial_site.permissions import user_can
from trial_site.roles import Role
from trial_site.services import membership_grant
from visits import services as visit_services


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_form(user: Any, **changes: Any) -> dict[str, Any]:
    """What Django's user admin change page posts for ``user``, with ``changes``."""
    joined = timezone.localtime(user.date_joined)
    return {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "is_active": "on", "date_joined_0": f"{joined:%Y-%m-%d}",
        "date_joined_1": f"{joined:%H:%M:%S}", "initial-date_joined_0": f"{joined:%Y-%m-%d}",
        "initial-date_joined_1": f"{joined:%H:%M:%S}", **changes,
    }  # fmt: skip


@pytest.fixture
def administrator(user_with_role: Any) -> Any:
    return user_with_role(Role.ADMINISTRATOR)


def test_an_administrator_cannot_make_a_superuser_in_the_admin(administrator: Any, coordinator: Any) -> None:
    client = logged_in(administrator)
    assert client.get("/admin/").status_code == 200  # the admin site itself stays open to administrators
    assert client.get("/admin/auth/user/").status_code == 404
    response = client.post(f"/admin/auth/user/{coordinator.pk}/change/", change_form(coordinator, is_superuser="on"))
    assert response.status_code == 404
    coordinator.refresh_from_db()
    assert not coordinator.is_superuser and not coordinator.is_staff


def test_nobody_gives_a_permission_or_a_group_or_renames_a_user_in_the_admin(administrator: Any, assessor: Any) -> None:
    view_arm = Permission.objects.get(codename="view_arm")
    investigators = Group.objects.get(name="role: investigator")
    superuser = get_user_model().objects.create_superuser("root", "root@example.org", "server-only-password-1")
    for client in (logged_in(administrator), logged_in(superuser)):
        response = client.post(
            f"/admin/auth/user/{assessor.pk}/change/",
            change_form(assessor, username="someone-else", user_permissions=[view_arm.pk], groups=[investigators.pk]),
        )
        assert response.status_code == 404
        assert client.get("/admin/auth/group/").status_code == 404
        assert client.post(f"/admin/auth/group/{investigators.pk}/change/", {"name": investigators.name,
                           "permissions": [view_arm.pk]}).status_code == 404  # fmt: skip
    assessor.refresh_from_db()
    assert assessor.username == "blinded_assessor"
    assert not assessor.user_permissions.exists()
    assert set(assessor.groups.values_list("name", flat=True)) == {"role: blinded_assessor"}
    assert not user_can(get_user_model().objects.get(pk=assessor.pk), "randomization.view_arm")


def test_a_permission_held_directly_gives_nothing_unless_roles_py_allows_delegating_it(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, assessor: Any
) -> None:
    """Even if a permission row reached a user some other way (a shell on the server), ``user_can`` does not count
    it: the blinded assessor still sees no arm."""
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    assessor.user_permissions.add(Permission.objects.get(codename="view_arm"))
    page = logged_in(get_user_model().objects.get(pk=assessor.pk)).get(
        f"/randomization/participants/{participant.screening_number}/"
    )
    assert page.status_code == 200
    html = page.content.decode().lower()
    assert "baricitinib" not in html and "methotrexate" not in html


def test_memberships_are_read_only_in_the_admin(administrator: Any, other_site: Site) -> None:
    """An administrator cannot give themself (or anyone) a role at another site through the admin."""
    client = logged_in(administrator)
    response = client.post(
        "/admin/trial_site/staffmembership/add/",
        {"user": administrator.pk, "site": other_site.pk, "role": Role.INVESTIGATOR.value, "is_active": "on"},
    )
    assert response.status_code == 403
    assert not StaffMembership.objects.filter(site=other_site).exists()
    assert not user_can(administrator, "monitoring.sign_data", other_site)


def test_sites_in_the_admin_are_the_administrators_own(administrator: Any, other_site: Site) -> None:
    client = logged_in(administrator)
    assert client.get(f"/admin/trial_site/site/{other_site.pk}/change/").status_code == 302  # "does not exist"
    client.post(
        f"/admin/trial_site/site/{other_site.pk}/change/",
        {
            "code": "CTG",
            "name": "Renamed",
            "country": "Bangladesh",
            "time_zone": "Asia/Dhaka",
            "phone": "+8801000000000",
        },
    )
    other_site.refresh_from_db()
    assert other_site.name == "Chattogram Medical College"


def test_a_superuser_without_a_role_sees_no_data_and_no_menu(site: Any) -> None:
    superuser = get_user_model().objects.create_superuser("root", "root@example.org", "server-only-password-1")
    client = logged_in(superuser)
    for path in ("/sites/", "/sites/DHK/", "/screening/", "/randomization/", "/access-log/", "/staff/"):
        assert client.get(path).status_code == 403, path
    home = client.get("/").content.decode()
    assert 'data-testid="home-section-' not in home


def test_a_superuser_with_a_role_at_one_site_sees_only_that_site(site: Any, other_site: Site) -> None:
    superuser = get_user_model().objects.create_superuser("root", "root@example.org", "server-only-password-1")
    membership_grant(user=superuser, site=site, role=Role.MONITOR, by=system_user())
    client = logged_in(superuser)
    assert client.get("/sites/DHK/").status_code == 200
    assert client.get("/sites/CTG/").status_code == 404
    assert "CTG" not in client.get("/sites/").content.decode()
    assert client.get("/staff/").status_code == 403  # monitor, not administrator


def test_a_signature_keeps_the_name_signed_with_after_the_account_is_renamed(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, administrator: Any, password: str
) -> None:
    list_in_use(statistician)
    participant: Participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    signer = logged_in(investigator)
    signed = signer.post(f"/monitoring/signatures/sign/?scope=visit&visit={d1.pk}", {"password": password})
    assert signed.status_code == 302
    assert Signature.objects.get().printed_name == "Investigator"

    renamed = logged_in(administrator).post(
        f"/staff/{investigator.pk}/edit/",
        {"first_name": "Farhana", "last_name": "Haque", "email": investigator.email,
         "username": "farhana", "reason": "name corrected from the delegation log"},
    )  # fmt: skip
    assert renamed.status_code == 302
    investigator.refresh_from_db()
    assert (investigator.username, investigator.get_full_name()) == ("investigator", "Farhana Haque")

    monitor = logged_in(make_user("monitor", role=Role.MONITOR, site=site))
    listed = monitor.get("/monitoring/signatures/").content.decode()
    assert "Investigator" in listed and "Farhana" not in listed
    panel = monitor.get(f"/visits/{d1.pk}/").content.decode()
    assert "<strong>Investigator</strong>" in panel and "Farhana" not in panel
    change = investigator.history.first()
    assert (change.history_user, change.history_change_reason) == (
        administrator,
        "name corrected from the delegation log",
    )
    assert (change.prev_record.first_name, change.first_name) == ("Investigator", "Farhana")


def test_the_blinded_assessor_cannot_be_given_a_role_at_another_site_by_an_administrator_of_one(
    administrator: Any, other_site: Site, user_with_role: Any
) -> None:
    """The Staff pages offer only the administrator's sites; a forged site is refused and nothing is granted."""
    assessor = user_with_role(Role.BLINDED_ASSESSOR)
    client = logged_in(administrator)
    response = client.post(
        f"/staff/{assessor.pk}/roles/",
        {"site": other_site.pk, "role": Role.INVESTIGATOR.value, "reason": "covering at CTG"},
    )
    assert response.status_code == 302
    assert not StaffMembership.objects.filter(user=assessor, site=other_site).exists()
    ctg_admin = make_user("ctg-admin", role=Role.ADMINISTRATOR, site=other_site)
    assert logged_in(ctg_admin).get(f"/staff/{assessor.pk}/").status_code == 404
