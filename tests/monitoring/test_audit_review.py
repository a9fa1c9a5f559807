"""Audit-trail review: a participant's timeline (old → new, who, when, why), filters, one field's history, the
site-wide list, the CSV export (masked, logged), paging with a fixed number of queries, and who may look."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring.selectors.audit import AuditEntry, AuditViewer, site_trail
from safety import services as safety_services
from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.safety.test_safety import event_for
from tests.screening.factories import register
from tests.visits.test_schedule import randomised_on
from trial_site.models import AccessEvent
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns

VITALS = {"weight_kg": 60.0, "height_cm": 160.0, "systolic_bp": 120.0, "diastolic_bp": 80.0, "heart_rate": 72.0,
          "temperature_c": 36.8}  # fmt: skip


@pytest.fixture
def audit_monitor(user_with_role: Any) -> Any:
    return user_with_role(Role.MONITOR, username="monica")


@pytest.fixture
def audit_scripted(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> dict[str, Any]:
    """A randomised participant; then, in order: vital signs entered, the weight corrected, an adverse event
    recorded, its grade corrected."""
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=3), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    vitals = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=vitals, by=coordinator, complete=True)
    vitals = VitalSigns.objects.get(pk=vitals.pk)
    vitals.weight_kg = 62.5
    visit_form_save(record=vitals, by=investigator, complete=True, reason="transcription error, see source")
    event = safety_services.adverse_event_record(event=event_for(participant, grade=2), by=coordinator)
    event.grade = 3
    safety_services.adverse_event_change(event=event, by=investigator, reason="graded again by the investigator")
    return {"participant": participant, "vitals": vitals, "event": event, "visit": d1}


def timeline(client: Client, participant: Participant, **params: Any) -> Any:
    return client.get(reverse("monitoring:audit_participant", args=[participant.screening_number]), params)


def changes(entry: AuditEntry) -> list[tuple[str, str, str]]:
    return [(change.name, change.old, change.new) for change in entry.changes]


def test_a_scripted_sequence_of_creates_and_edits_appears_in_the_timeline_exactly(
    client: Client, audit_scripted: dict[str, Any], audit_monitor: Any, coordinator: Any, investigator: Any
) -> None:
    participant, vitals, event = audit_scripted["participant"], audit_scripted["vitals"], audit_scripted["event"]
    client.force_login(audit_monitor)
    response = timeline(client, participant)
    assert response.status_code == 200
    newest = list(response.context["page"])[:4]

    assert [(e.source.key, e.object_id, e.action_label, e.user, e.reason) for e in newest] == [
        ("safety.adverseevent", event.pk, "changed", "investigator", "graded again by the investigator"),
        ("safety.adverseevent", event.pk, "created", "coordinator", ""),
        ("visits.vitalsigns", vitals.pk, "changed", "investigator", "transcription error, see source"),
        ("visits.vitalsigns", vitals.pk, "created", "coordinator", ""),
    ]
    # Old → new with the labels the forms show (coded values by their label).
    assert changes(newest[0]) == [("grade", "2 moderate", "3 severe")]
    assert [c.label for c in newest[0].changes] == ["CTCAE grade"]
    assert changes(newest[2]) == [("weight_kg", "60", "62.5")]
    assert [c.label for c in newest[2].changes] == ["Weight (kg)"]
    created_ae = dict((name, new) for name, _old, new in changes(newest[1]))
    assert created_ae["grade"] == "2 moderate" and created_ae["relationship"] == "Possible"
    assert created_ae["description"] == "Herpes zoster, thoracic" and created_ae["site"] == "DHK"
    assert all(old == "" for _name, old, _new in changes(newest[1]))
    created_vitals = {name: new for name, _old, new in changes(newest[3])}
    assert created_vitals["weight_kg"] == "60" and created_vitals["status"] == "Complete"
    assert created_vitals["visit"] == "D1"
    # Form label with the visit, site time and UTC, and a link to the record's page.
    assert newest[2].form_label == "Vital signs, D1"
    assert newest[2].record_url == reverse("visits:crf", args=[vitals.visit_id, "vitals"])
    assert newest[0].record_url == reverse("safety:event", args=[event.pk])
    local = timezone.localtime(newest[0].at, timezone.get_fixed_timezone(360))
    assert newest[0].site_time == f"{local:%Y-%m-%d %H:%M:%S} +06"
    assert newest[0].utc_time.endswith(" UTC")
    # The earlier history (registration, consent, screening forms, randomisation, visits) is there too.
    older = {e.source.key for e in response.context["page"]}
    assert {"screening.participant", "screening.consent", "randomization.allocation", "visits.visit"} <= older

    html = response.content.decode()
    assert "transcription error, see source" in html and "62.5" in html and "3 severe" in html
    assert reverse("visits:crf", args=[vitals.visit_id, "vitals"]) in html


def test_the_arm_is_shown_to_unblinded_reviewers_only(
    client: Client, audit_scripted: dict[str, Any], audit_monitor: Any
) -> None:
    participant = audit_scripted["participant"]
    client.force_login(audit_monitor)
    entries = list(timeline(client, participant, form="randomization.allocation").context["page"])
    arm = participant.allocation.arm
    assert ("arm", "", arm) in changes(entries[-1])


def test_the_audit_review_delegated_holds_only_where_the_delegate_sees_the_arm(
    client: Client, audit_scripted: dict[str, Any], assessor: Any, coordinator: Any
) -> None:
    """The trail shows every laboratory value, medication and dose ever entered: delegated to the blinded assessor
    it gives them nothing (refused, and logged); delegated to the coordinator (who sees the arm) it opens the trail."""
    participant = audit_scripted["participant"]
    review = Permission.objects.get(codename="review_audit")
    for person in (assessor, coordinator):
        client.force_login(person)
        assert timeline(client, participant).status_code == 403
        person.user_permissions.add(review)
    client.force_login(assessor)
    refused_before = AccessEvent.objects.filter(user=assessor).count()
    assert timeline(client, participant, form="randomization.allocation").status_code == 403
    assert AccessEvent.objects.filter(user=assessor).count() == refused_before + 1
    client.force_login(coordinator)
    response = timeline(client, participant, form="randomization.allocation")
    assert response.status_code == 200
    assert ("arm", "", participant.allocation.arm) in changes(list(response.context["page"])[-1])


def test_filters_by_form_user_dates_and_field(
    client: Client, audit_scripted: dict[str, Any], audit_monitor: Any, investigator: Any
) -> None:
    participant = audit_scripted["participant"]
    client.force_login(audit_monitor)

    by_form = list(timeline(client, participant, form="visits.vitalsigns").context["page"])
    assert [e.action_label for e in by_form] == ["changed", "created"]

    by_user = timeline(client, participant, user="investigator").context["page"]
    assert {e.user for e in by_user} == {"investigator"}
    assert "graded again by the investigator" in {e.reason for e in by_user}

    by_field = list(timeline(client, participant, field="weight_kg").context["page"])
    assert [changes(e) for e in by_field] == [[("weight_kg", "60", "62.5")], [("weight_kg", "", "60")]]

    today = timezone.localdate()
    assert len(list(timeline(client, participant, date_from=today, date_to=today).context["page"])) > 4
    assert list(timeline(client, participant, date_from=today + timedelta(days=1)).context["page"]) == []

    response = timeline(client, participant, date_from=today, date_to=today - timedelta(days=1))
    assert response.status_code == 400
    assert "The end of the range is before its start." in response.content.decode()
    response = timeline(client, participant, form="visits.vitalsigns", field="grade")
    assert response.status_code == 400
    assert "This form has no field “grade”." in response.content.decode()
    response = timeline(client, participant, user="nobody")
    assert response.status_code == 400
    assert "No user has this username." in response.content.decode()


def test_the_history_of_one_field_of_one_form(
    client: Client, audit_scripted: dict[str, Any], audit_monitor: Any, site: Any, coordinator: Any
) -> None:
    participant, event = audit_scripted["participant"], audit_scripted["event"]
    url = reverse("monitoring:audit_field", args=[participant.screening_number])
    client.force_login(audit_monitor)
    response = client.get(url, {"form": "safety.adverseevent", "object": event.pk, "field": "grade"})
    assert response.status_code == 200
    rows = [(e.action_label, changes(e), e.user, e.reason) for e in response.context["page"]]
    assert rows == [
        ("changed", [("grade", "2 moderate", "3 severe")], "investigator", "graded again by the investigator"),
        ("created", [("grade", "", "2 moderate")], "coordinator", ""),
    ]
    assert response.context["field_label"] == "CTCAE grade"

    bad = client.get(url, {"form": "safety.adverseevent", "object": event.pk, "field": "weight_kg"})
    assert bad.status_code == 400 and "This form has no field “weight_kg”." in bad.content.decode()
    assert client.get(url, {"form": "safety.adverseevent"}).status_code == 400
    # A record of another participant is not shown under this one.
    someone_else = register(site, coordinator)
    other_url = reverse("monitoring:audit_field", args=[someone_else.screening_number])
    assert (
        client.get(other_url, {"form": "safety.adverseevent", "object": event.pk, "field": "grade"}).status_code == 404
    )


def test_identifying_fields_are_masked_for_administrators_and_in_exports(
    client: Client, audit_scripted: dict[str, Any], audit_monitor: Any, user_with_role: Any, coordinator: Any
) -> None:
    participant = Participant.objects.get(pk=audit_scripted["participant"].pk)
    participant.mobile_phone = "+8801812345678"
    participant.save(by=coordinator, reason="new phone number")
    client.force_login(audit_monitor)
    seen = list(timeline(client, participant, field="mobile_phone").context["page"])
    assert changes(seen[0]) == [("mobile_phone", "+8801712345678", "+8801812345678")]

    client.force_login(user_with_role(Role.ADMINISTRATOR, username="admin"))
    response = timeline(client, participant, field="mobile_phone")
    masked = list(response.context["page"])
    assert changes(masked[0]) == [("mobile_phone", "(identifying: changed)", "(identifying: changed)")]
    assert "8801812345678" not in response.content.decode()
    assert "(identifying: changed)" in response.content.decode()

    client.force_login(audit_monitor)
    response = client.get(reverse("monitoring:audit_export"), {"participant": participant.screening_number})
    text = b"".join(response.streaming_content).decode()
    assert "8801812345678" not in text and "8801712345678" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    phone = [r for r in rows if r["field"] == "mobile_phone" and r["action"] == "changed"]
    assert phone == [
        {**phone[0], "old": "(identifying: changed)", "new": "(identifying: changed)", "reason": "new phone number"}
    ]


def test_the_csv_export_of_a_participant_holds_every_change_and_is_kept_in_the_access_log(
    client: Client, audit_scripted: dict[str, Any], audit_monitor: Any, site: Any
) -> None:
    participant, vitals = audit_scripted["participant"], audit_scripted["vitals"]
    client.force_login(audit_monitor)
    today = timezone.localdate()
    response = client.get(
        reverse("monitoring:audit_export"),
        {"participant": participant.screening_number, "date_from": today, "date_to": today},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["utc_time", "site_time", "site", "participant", "form", "record_id", "protocol_version",
                       "action", "field", "old", "new", "user", "reason"]  # fmt: skip
    body = rows[1:]
    weight = [r for r in body if r[4] == "visits.vitalsigns" and r[8] == "weight_kg"]
    assert [r[2:] for r in weight] == [
        ["DHK", participant.screening_number, "visits.vitalsigns", str(vitals.pk), "1.0", "created", "weight_kg", "",
         "60", "coordinator", ""],
        ["DHK", participant.screening_number, "visits.vitalsigns", str(vitals.pk), "1.0", "changed", "weight_kg",
         "60", "62.5", "investigator", "transcription error, see source"],
    ]  # fmt: skip
    assert weight[0][0].endswith(" UTC") and weight[0][1].endswith(" +06")
    assert [r[0] for r in body] == sorted(r[0] for r in body)  # oldest first

    event = AccessEvent.objects.get(kind=AccessEvent.Kind.EXPORT)
    assert event.user == audit_monitor
    assert event.detail == f"audit trail CSV: participant {participant.screening_number}, {today} to {today}"


def test_a_site_export_and_the_recent_changes_cover_the_users_sites_only(
    client: Client,
    audit_scripted: dict[str, Any],
    audit_monitor: Any,
    other_site: Any,
    user_with_role: Any,
) -> None:
    participant = audit_scripted["participant"]
    client.force_login(audit_monitor)
    response = client.get(reverse("monitoring:audit_recent"))
    assert response.status_code == 200
    entries = list(response.context["page"])
    assert len(entries) == timeline(client, participant).context["page"].paginator.count > 20
    assert {e.participant_number for e in entries} == {participant.screening_number}
    assert f'href="{reverse("access_log")}"' in response.content.decode()

    export = client.get(reverse("monitoring:audit_export"), {"site": "DHK"})
    assert export.status_code == 200
    assert {r["site"] for r in csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))} == {"DHK"}
    # Another site's trail: not found, and the attempt is logged.
    assert client.get(reverse("monitoring:audit_export"), {"site": other_site.code}).status_code == 404
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.ACCESS_DENIED).exists()

    elsewhere = user_with_role(Role.MONITOR, username="ctg_monitor", at=other_site)
    client.force_login(elsewhere)
    assert list(client.get(reverse("monitoring:audit_recent")).context["page"]) == []
    assert timeline(client, participant).status_code == 404
    bad = client.get(reverse("monitoring:audit_recent"), {"site": "DHK"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.MONITOR, 200), (Role.DATA_MANAGER, 200), (Role.INVESTIGATOR, 200), (Role.ADMINISTRATOR, 200),
     (Role.COORDINATOR, 403), (Role.STATISTICIAN, 403), (Role.BLINDED_ASSESSOR, 403)],
)  # fmt: skip
def test_who_may_review_the_audit_trail(
    client: Client, site: Any, coordinator: Any, user_with_role: Any, role: Role, status: int
) -> None:
    participant = register(site, coordinator)
    user = coordinator if role == Role.COORDINATOR else user_with_role(role, username=f"u_{role.value}")
    client.force_login(user)
    assert timeline(client, participant).status_code == status
    assert client.get(reverse("monitoring:audit_recent")).status_code == status
    export = client.get(reverse("monitoring:audit_export"), {"participant": participant.screening_number})
    assert export.status_code == status
    field = client.get(
        reverse("monitoring:audit_field", args=[participant.screening_number]),
        {"form": "screening.participant", "object": participant.pk, "field": "sex"},
    )
    assert field.status_code == status
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.EXPORT).exists() == (status == 200)


def _queries(client: Client, url: str, **params: Any) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured), response


def test_a_long_timeline_is_paged_and_runs_a_bounded_number_of_queries(
    client: Client, site: Any, coordinator: Any, audit_monitor: Any
) -> None:
    short = register(site, coordinator)
    long = register(site, coordinator)
    assert long.reminder_consent  # registered agreeing; every change below flips it (an unchanged save writes nothing)
    for n in range(2000):
        long.reminder_consent = n % 2 == 1
        long.save(by=coordinator, reason=f"change {n}")
    client.force_login(audit_monitor)
    timeline(client, short)  # the user's roles are cached per request; warm nothing else

    short_url = reverse("monitoring:audit_participant", args=[short.screening_number])
    long_url = reverse("monitoring:audit_participant", args=[long.screening_number])
    short_count, short_response = _queries(client, short_url)
    first_count, first = _queries(client, long_url)
    fortieth_count, fortieth = _queries(client, long_url, page=40)
    last_count, last = _queries(client, long_url, page=41)

    assert first.context["page"].paginator.count == short_response.context["page"].paginator.count + 2000
    assert first.context["page"].paginator.num_pages == 41
    assert [e.reason for e in first.context["page"]][:2] == ["change 1999", "change 1998"]
    assert changes(first.context["page"][0]) == [("reminder_consent", "no", "yes")]
    assert last.context["page"].number == 41
    assert [e.action_label for e in last.context["page"]][-1] == "created"
    assert {e.source.key for e in fortieth.context["page"]} == {"screening.participant"}
    # Page 1 and page 40 (one form's rows), the last page and a participant with a short history (two forms).
    assert first_count == fortieth_count
    assert last_count == short_count <= first_count + 2
    assert short_count <= 20


def test_the_recent_changes_run_the_same_queries_for_one_participant_or_many_and_filter_by_site(
    client: Client, site: Any, other_site: Any, coordinator: Any, user_with_role: Any
) -> None:
    roaming = user_with_role(Role.MONITOR, username="roaming")
    membership_grant(user=roaming, site=other_site, role=Role.MONITOR, by=system_user())
    ctg_coordinator = user_with_role(Role.COORDINATOR, username="ctg_coordinator", at=other_site)
    dhk = register(site, coordinator)
    ctg = register(other_site, ctg_coordinator)
    client.force_login(roaming)
    url = reverse("monitoring:audit_recent")
    client.get(url)
    few, response = _queries(client, url)
    assert {e.participant_number for e in response.context["page"]} == {dhk.screening_number, ctg.screening_number}
    for _ in range(3):
        register(site, coordinator)
        register(other_site, ctg_coordinator)
    many, response = _queries(client, url)
    assert len(response.context["page"]) == 16
    assert many == few

    only_ctg = client.get(url, {"site": other_site.code}).context["page"]
    assert {e.site.code for e in only_ctg} == {"CTG"} and len(only_ctg) == 8


@pytest.mark.parametrize("newest_first", [True, False])
def test_every_page_of_the_recent_changes_holds_the_entries_the_whole_trail_has_there(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, audit_monitor: Any, newest_first: bool
) -> None:
    """A page reads only the first rows of each history table up to its end (each table's own order): every page,
    wherever it starts and ends, holds the entries the whole trail, read in one pass, has at those places."""
    list_in_use(statistician)
    randomised_on(timezone.localdate() - timedelta(days=30), site, coordinator, investigator)
    for _ in range(12):  # more rows in two tables than the first pages hold
        register(site, coordinator)
    trail = site_trail(sites=[site], viewer=AuditViewer(audit_monitor), newest_first=newest_first)
    whole = [(e.source.key, e.history_id) for chunk in trail.chunks(size=1000) for e in chunk]
    assert len({key for key, _ in whole}) >= 5 and len(whole) > 20  # entries of many tables, several pages
    for start, end in ((0, 3), (3, 8), (8, 19), (13, len(whole) + 5)):
        assert [(e.source.key, e.history_id) for e in trail[start:end]] == whole[start:end], (start, end)
    assert trail[0:0] == []
