"""The audit trail and protocol versions: each record's entries name the version it was made under (page and CSV),
and the protocol amendments themselves (proposed, approved, by whom, why) are in the trial-level trail."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from screening.models import Consent, Participant, ScreeningLabs
from tests.screening.factories import register, screen_eligible
from trial_site.models import ProtocolVersion
from trial_site.protocol_versions import amendable, base_protocol
from trial_site.roles import Role

WEEK_6 = {"code": "W6", "name": "Week 6 safety labs", "target_day": 43, "days_before": 3, "days_after": 3,
          "forms": ["labs"]}  # fmt: skip
AMENDMENTS = "trial_site.protocolversion"


@pytest.fixture
def amended(site: Any, coordinator: Any, investigator: Any, user_with_role: Any) -> dict[str, Any]:
    """A participant registered under protocol 1.0; amendment 2.0 (a week 6 visit) proposed by the data manager and
    approved by the investigator, in force today; then the participant's screening forms, made under 2.0."""
    participant = register(site, coordinator)
    data_manager = user_with_role(Role.DATA_MANAGER, username="dana")
    content = amendable(base_protocol())
    content["visits"] = sorted([*content["visits"], WEEK_6], key=lambda visit: visit["target_day"])
    amendment = ProtocolVersion(
        version="2.0",
        effective_from=timezone.localdate(),
        summary="A week 6 safety laboratory visit.",
        content=content,
        proposed_by=data_manager,
        proposed_at=timezone.now(),
    )
    amendment.save(by=data_manager)
    amendment.status = ProtocolVersion.Status.APPROVED
    amendment.approved_by = investigator
    amendment.approved_at = timezone.now()
    amendment.approval_reason = "Ethics committee approval of 3 March."
    amendment.save(by=investigator, reason="approved")
    screen_eligible(Participant.objects.get(pk=participant.pk), coordinator)
    return {
        "participant": participant,
        "consent": Consent.objects.get(participant=participant),
        "labs": ScreeningLabs.objects.get(participant=participant),
        "amendment": amendment,
        "data_manager": data_manager,
    }


@pytest.fixture
def audit_monitor(user_with_role: Any) -> Any:
    return user_with_role(Role.MONITOR, username="monica")


def test_each_entry_names_the_protocol_version_its_record_was_made_under(
    client: Client, amended: dict[str, Any], audit_monitor: Any
) -> None:
    participant, consent, labs = amended["participant"], amended["consent"], amended["labs"]
    client.force_login(audit_monitor)
    response = client.get(reverse("monitoring:audit_participant", args=[participant.screening_number]))
    assert response.status_code == 200
    versions = {(e.source.key, e.object_id): e.protocol_version for e in response.context["page"]}
    assert versions[("screening.consent", consent.pk)] == "1.0"
    assert versions[("screening.screeninglabs", labs.pk)] == "2.0"
    # A badge per entry, not a field "entered" among the others.
    html = response.content.decode()
    assert 'data-testid="protocol-version"' in html and "protocol 1.0" in html and "protocol 2.0" in html
    assert all(c.name != "protocol_version" for e in response.context["page"] for c in e.changes)
    # No amendment in a participant's own timeline.
    assert AMENDMENTS not in {e.source.key for e in response.context["page"]}


def test_the_amendment_is_in_the_recent_changes_with_who_proposed_and_approved_it_and_why(
    client: Client, amended: dict[str, Any], audit_monitor: Any, investigator: Any
) -> None:
    amendment, data_manager = amended["amendment"], amended["data_manager"]
    client.force_login(audit_monitor)
    response = client.get(reverse("monitoring:audit_recent"))
    assert response.status_code == 200
    entries = [e for e in response.context["page"] if e.source.key == AMENDMENTS]
    approved, proposed = entries  # newest first
    assert (proposed.action_label, proposed.user, proposed.protocol_version) == ("created", "dana", "2.0")
    assert {c.name: c.new for c in proposed.changes}["status"] == "Proposed"
    assert {c.name: c.new for c in proposed.changes}["proposed_by"] == data_manager.username
    assert (approved.action_label, approved.user, approved.reason) == ("changed", investigator.username, "approved")
    changed = {c.name: (c.old, c.new) for c in approved.changes}
    assert changed["status"] == ("Proposed", "Approved")
    assert changed["approved_by"] == ("", investigator.username)
    assert changed["approval_reason"] == ("", "Ethics committee approval of 3 March.")
    assert approved.site is None and approved.participant_number == ""
    html = response.content.decode()
    assert "Ethics committee approval of 3 March." in html and 'data-testid="trial-level"' in html

    only = client.get(reverse("monitoring:audit_recent"), {"form": AMENDMENTS}).context["page"]
    assert {e.source.key for e in only} == {AMENDMENTS} and len(only) == 2
    by_field = client.get(reverse("monitoring:audit_recent"), {"form": AMENDMENTS, "field": "approval_reason"})
    assert [e.action_label for e in by_field.context["page"]] == ["changed"]
    # Filtering on a clinical form leaves the amendments out.
    assert AMENDMENTS not in {
        e.source.key
        for e in client.get(reverse("monitoring:audit_recent"), {"form": "screening.consent"}).context["page"]
    }
    assert amendment.pk in {e.object_id for e in entries}


def test_the_csv_export_has_the_protocol_version_and_the_amendments(
    client: Client, amended: dict[str, Any], audit_monitor: Any, investigator: Any
) -> None:
    consent, labs = amended["consent"], amended["labs"]
    client.force_login(audit_monitor)
    response = client.get(reverse("monitoring:audit_export"), {"site": "DHK"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    version_of = {(r["form"], r["record_id"]): r["protocol_version"] for r in rows}
    assert version_of[("screening.consent", str(consent.pk))] == "1.0"
    assert version_of[("screening.screeninglabs", str(labs.pk))] == "2.0"
    approval = [r for r in rows if r["form"] == AMENDMENTS and r["field"] == "approval_reason"]
    assert [(r["action"], r["new"], r["user"], r["reason"], r["site"], r["participant"]) for r in approval] == [
        ("changed", "Ethics committee approval of 3 March.", investigator.username, "approved", "", "")
    ]
    assert {r["protocol_version"] for r in rows if r["form"] == AMENDMENTS} == {"2.0"}

    participant_only = client.get(
        reverse("monitoring:audit_export"), {"participant": amended["participant"].screening_number}
    )
    forms = {r["form"] for r in csv.DictReader(io.StringIO(b"".join(participant_only.streaming_content).decode()))}
    assert AMENDMENTS not in forms and "screening.screeninglabs" in forms


@pytest.mark.parametrize(("role", "status"), [(Role.DATA_MANAGER, 200), (Role.COORDINATOR, 403)])
def test_only_those_who_review_the_audit_trail_see_the_amendments_there(
    client: Client, amended: dict[str, Any], user_with_role: Any, role: Role, status: int
) -> None:
    client.force_login(user_with_role(role, username=f"u_{role.value}"))
    response = client.get(reverse("monitoring:audit_recent"))
    assert response.status_code == status
    if status == 200:
        assert AMENDMENTS in {e.source.key for e in response.context["page"]}
