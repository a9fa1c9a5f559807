"""What a crash could leave half done, found and repaired: ``manage.py check_invariants [--repair]`` and the beat task
``trial_site.tasks.invariants_check``.

The broken states are made as the code before the one-transaction randomisation made them when a process died
after the commit: the randomisation (or the laboratory panel) committed without its follow-ups, which is what the
write does with its follow-ups switched off in ``FOLLOW_UPS`` for that one write; and an outbox message whose
hand-off to the worker was lost (the broker unreachable), left pending past its due time.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from randomization.models import Allocation
from randomization.services import participant_randomize
from reminders.models import Reminder
from reminders.services import reminders_plan
from safety.models import LabAlert, LabPanelAssessment
from screening.models import Participant
from tests.faults.support import log_records
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.reminders.test_redis_down import broker_at
from tests.trial_site.test_outbox import closed_port
from trial_site import tasks
from trial_site.invariants import REPAIR_REASON
from trial_site.models import OutboxMessage
from trial_site.protocol import PROTOCOL
from trial_site.protocol_versions import base_protocol
from trial_site.services import system_user
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel
from visits.models import RequiredForm, Visit

pytestmark = pytest.mark.django_db(transaction=True)

# A panel that breaks the rules of both arms (ANC, ALC and Hb for baricitinib; WBC, ANC and platelets for
# methotrexate); Hb 7.5 is beyond the soft limit, so it is confirmed.
BREAKING = {
    "hb_g_dl": 7.5, "wbc": 3.0, "anc": 0.9, "alc": 0.4, "platelets": 120.0, "alt": 20.0, "alt_uln": 40.0,
    "creatinine": 0.7, "creatinine_unit": "mg/dL",
}  # fmt: skip
ALERTS = {"A": {"BARI_ALC", "BARI_ANC", "BARI_HB"}, "B": {"MTX_WBC", "MTX_ANC", "MTX_PLATELETS"}}


# --- what must hold ---------------------------------------------------------------------------------------------


def schedule_problems(participant: Participant) -> list[str]:
    """What the participant's schedule lacks: every protocol visit, its required-form rows, its planned reminders.
    Empty when it is whole."""
    problems = []
    visits = list(Visit.objects.filter(participant=participant).exclude(code="UNS").order_by("sequence"))
    if [visit.code for visit in visits] != [definition.code for definition in PROTOCOL.visits]:
        problems.append(f"visits {[visit.code for visit in visits]}")
    rows = RequiredForm.objects.filter(visit__in=visits).select_related("visit")
    forms = {(row.visit.code, row.form) for row in rows}
    wanted = {(definition.code, form) for definition in base_protocol().visits for form in definition.forms}
    if forms != wanted:
        problems.append(f"required forms missing: {sorted(wanted - forms)}")
    if not Reminder.objects.filter(participant=participant).exists():
        problems.append("no reminders")
    with transaction.atomic():  # would planning them now add any? (rolled back: only asked)
        if (planned := reminders_plan(participant_id=participant.pk).created) != 0:
            problems.append(f"{planned} reminders not planned")
        transaction.set_rollback(True)
    return problems


def alert_rules(panel: LabPanel) -> set[str]:
    return set(LabAlert.objects.filter(lab_panel=panel).values_list("rule", flat=True))


def assessed(panel: LabPanel) -> bool:
    panel = LabPanel.objects.get(pk=panel.pk)
    return LabPanelAssessment.objects.filter(panel=panel, panel_modified_at=panel.modified_at).exists()


def e_mails_about(inbox: Any, allocation: Allocation) -> int:
    return sum(allocation.randomisation_number in str(message["Subject"]) for message in inbox.messages)


# --- how a crash left it ----------------------------------------------------------------------------------------


@contextmanager
def follow_ups_lost(settings: Any, event: str) -> Iterator[None]:
    """The writes of the block commit without their ``event`` follow-ups, as if the process died right after
    the commit in the old code, which made them in ``on_commit``."""
    real = settings.FOLLOW_UPS
    settings.FOLLOW_UPS = {**real, event: ()}
    try:
        yield
    finally:
        settings.FOLLOW_UPS = real


def randomised(site: Any, coordinator: Any, investigator: Any) -> Participant:
    participant = confirmed_participant(site, coordinator, investigator)
    participant_randomize(participant=participant, by=investigator)
    return Participant.objects.get(pk=participant.pk)


def lab_panel_saved(participant: Participant, coordinator: Any) -> LabPanel:
    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    panel = LabPanel(visit=Visit.objects.get(pk=d1.pk), unusual_values_confirmed=True, **BREAKING)
    visit_form_save(record=panel, by=coordinator, complete=True)
    return panel


@contextmanager
def broker_down() -> Iterator[None]:
    """The hand-off of an outbox message to the worker fails (logged), as in a broker outage."""
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), log_records("trial_site.queue", 40):
        yield


def ten_minutes_ago(message: OutboxMessage) -> OutboxMessage:
    """The message was due ten minutes ago (the outage was then)."""
    OutboxMessage.objects.filter(pk=message.pk).update(due_at=timezone.now() - timedelta(minutes=10))
    return OutboxMessage.objects.get(pk=message.pk)


@pytest.fixture
def broken(
    settings: Any, smtp_inbox: Any, site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> dict[str, Any]:
    """One of each: a randomised participant without a schedule (nor the investigators' e-mail), a laboratory panel
    without its alerts, an outbox message stuck (the e-mail of a participant randomised while the broker was down),
    and a participant whose schedule and panel are whole, which stay untouched."""
    list_in_use(statistician, slots_per_stratum=8)
    with broker_down():  # randomised whole; its investigators' e-mail not handed to the worker
        healthy = randomised(site, coordinator, investigator)
    stuck = ten_minutes_ago(OutboxMessage.objects.get(key=f"randomised:{healthy.allocation.pk}"))
    healthy_panel = lab_panel_saved(healthy, coordinator)
    with follow_ups_lost(settings, "randomised"):
        unscheduled = randomised(site, coordinator, investigator)
    with_panel = randomised(site, coordinator, investigator)
    with follow_ups_lost(settings, "lab_panel_saved"):
        panel = lab_panel_saved(with_panel, coordinator)
    assert schedule_problems(healthy) == [] and schedule_problems(with_panel) == []
    assert not Visit.objects.filter(participant=unscheduled).exists()
    assert alert_rules(healthy_panel) == ALERTS[healthy.allocation.arm] and assessed(healthy_panel)
    assert alert_rules(panel) == set() and not assessed(panel)
    assert stuck.status == "pending"
    assert e_mails_about(smtp_inbox, unscheduled.allocation) == 0
    smtp_inbox.messages.clear()
    return {
        "unscheduled": unscheduled,
        "panel": panel,
        "stuck": stuck,
        "healthy": healthy,
        "healthy_panel": healthy_panel,
        "inbox": smtp_inbox,
    }


def run(*options: str) -> tuple[int, str]:
    """``manage.py check_invariants`` with ``options``: its exit status and what it printed."""
    out = io.StringIO()
    try:
        call_command("check_invariants", *options, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def lines_starting(text: str, mark: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(mark)]


# --- the tests --------------------------------------------------------------------------------------------------


def test_check_invariants_reports_what_a_crash_left_and_exits_1_changing_nothing(broken: dict[str, Any]) -> None:
    status, out = run()

    assert status == 1
    assert len(lines_starting(out, "BROKEN")) == 3, out
    allocation = broken["unscheduled"].allocation
    assert f"{broken['unscheduled']} ({allocation.randomisation_number}) has no visit schedule" in out
    assert f"{broken['panel'].visit.participant} D1: laboratory panel not assessed" in out
    assert f"outbox message {broken['stuck'].pk} (randomization.tasks.email_randomisation) not delivered" in out
    # Only reported: nothing repaired, nothing sent.
    assert not Visit.objects.filter(participant=broken["unscheduled"]).exists()
    assert alert_rules(broken["panel"]) == set() and not assessed(broken["panel"])
    assert OutboxMessage.objects.get(pk=broken["stuck"].pk).status == "pending"
    assert broken["inbox"].messages == []
    assert run() == (status, out)


def test_repair_makes_what_was_missing_audited_as_the_system_and_a_second_run_is_ok(broken: dict[str, Any]) -> None:
    unscheduled, panel, inbox = broken["unscheduled"], broken["panel"], broken["inbox"]
    untouched = {
        "visits": Visit.history.filter(participant_id=broken["healthy"].pk).count(),
        "alerts": LabAlert.history.filter(lab_panel_id=broken["healthy_panel"].pk).count(),
    }

    status, out = run("--repair")

    assert status == 0, out
    assert len(lines_starting(out, "REPAIRED")) == 3 and not lines_starting(out, "BROKEN"), out
    # The schedule, whole, made by the system with the reason.
    assert schedule_problems(unscheduled) == []
    system = system_user()
    rows = Visit.history.filter(participant_id=unscheduled.pk)
    assert rows.count() == len(PROTOCOL.visits)
    assert {(row.history_user, row.history_change_reason) for row in rows} == {
        (system, REPAIR_REASON % "visit schedule missing after randomisation")
    }
    # The panel assessed: its alerts, made by the system with the reason.
    arm = panel.visit.participant.allocation.arm
    assert alert_rules(panel) == ALERTS[arm] and assessed(panel)
    alert_rows = LabAlert.history.filter(lab_panel_id=panel.pk)
    assert {(row.history_user, row.history_change_reason) for row in alert_rows} == {
        (system, REPAIR_REASON % "laboratory panel not assessed")
    }
    # The stuck message delivered; the unscheduled participant's investigators told, once.
    assert OutboxMessage.objects.get(pk=broken["stuck"].pk).status == "delivered"
    assert e_mails_about(inbox, broken["healthy"].allocation) == 1
    assert e_mails_about(inbox, unscheduled.allocation) == 1
    assert len(inbox.messages) == 2
    # Nothing else touched.
    assert Visit.history.filter(participant_id=broken["healthy"].pk).count() == untouched["visits"]
    assert LabAlert.history.filter(lab_panel_id=broken["healthy_panel"].pk).count() == untouched["alerts"]

    status, out = run()
    assert status == 0, out
    assert len(lines_starting(out, "OK")) == len(django_settings.INVARIANTS) and not lines_starting(out, "BROKEN"), out
    assert run("--repair") == (0, out)  # nothing more to repair: nothing written, nothing sent twice
    assert len(inbox.messages) == 2


def test_the_beat_task_repairs_the_same_and_logs_each_repair(broken: dict[str, Any]) -> None:
    with log_records("trial_site.invariants", 30) as logged:
        repairs = tasks.invariants_check.delay().get()

    assert repairs == 3
    said = [record.getMessage() for record in logged]
    assert any(str(broken["unscheduled"]) in line and "visit schedule" in line for line in said), said
    assert any("laboratory panel" in line for line in said), said
    assert schedule_problems(broken["unscheduled"]) == []
    assert assessed(broken["panel"])
    assert OutboxMessage.objects.get(pk=broken["stuck"].pk).status == "delivered"
    assert run() == (0, run()[1])
    assert tasks.invariants_check.delay().get() == 0


def test_a_message_that_failed_for_good_is_reported_until_someone_retries_it(
    settings: Any, smtp_inbox: Any, site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician, slots_per_stratum=4)
    settings.OUTBOX_MAX_ATTEMPTS = 1
    working_port, settings.EMAIL_PORT = settings.EMAIL_PORT, closed_port()
    participant = randomised(site, coordinator, investigator)  # its e-mail fails once: failed for good
    message = OutboxMessage.objects.get(key=f"randomised:{participant.allocation.pk}")
    assert message.status == "failed"
    settings.EMAIL_PORT = working_port

    status, out = run("--repair")
    assert status == 1 and f"outbox message {message.pk}" in out and "failed" in out
    assert smtp_inbox.messages == []  # the beat's repair does not resend a failed message on its own

    status, out = run("--repair", "--retry-failed")
    assert status == 0, out
    assert OutboxMessage.objects.get(pk=message.pk).status == "delivered"
    assert e_mails_about(smtp_inbox, participant.allocation) == 1
    assert run() == (0, run()[1])
