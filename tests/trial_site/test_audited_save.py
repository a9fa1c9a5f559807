"""The one audited save path (``AuditedModel.save``) on PostgreSQL, with the test-only clinical model
``tests.audit_probe.AuditProbe``: an unchanged save writes nothing; a save against a version that changed since the
form was opened is refused with who changed what and when, and writes nothing; two saves of one opened version at
the same instant cannot both pass; and the history attributes every value to the person who entered it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from django.db import connection

from tests.audit_probe.models import AuditProbe
from tests.concurrency.threads import run_together
from tests.faults.support import WriteHold, backend_waiting_on, wait_for
from trial_site.audit.errors import EditConflict
from trial_site.audit.versions import current_version
from trial_site.roles import Role

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]

HISTORY_TABLE = "audit_probe_historicalauditprobe"


@pytest.fixture
def rahima(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR, username="rahima")


@pytest.fixture
def karim(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR, username="karim")


@pytest.fixture
def probe(site: Any, rahima: Any) -> AuditProbe:
    record = AuditProbe(site=site, label="first", severity=AuditProbe.Severity.MILD, score=3, note="")
    record.save(by=rahima)
    return record


def opened(record: AuditProbe) -> AuditProbe:
    """The record as a form opened now reads it: the saved values and the version they are."""
    page = AuditProbe.objects.get(pk=record.pk)
    page.opened_version = current_version(page)
    return page


def stored(record: AuditProbe) -> AuditProbe:
    return AuditProbe.objects.get(pk=record.pk)


def history(record: AuditProbe) -> list[Any]:
    return list(AuditProbe.history.filter(id=record.pk).select_related("history_user").order_by("history_id"))


def changed_fields(rows: list[Any]) -> list[tuple[str, set[str]]]:
    """For each history row after the first: who wrote it and which data fields it changed."""
    fields = ("label", "severity", "score", "note")
    return [
        (row.history_user.username, {f for f in fields if getattr(row, f) != getattr(previous, f)})
        for previous, row in pairwise(rows)
    ]


def test_an_identical_save_writes_no_history_row_and_changes_nothing(probe: AuditProbe, karim: Any) -> None:
    before = stored(probe)
    again = opened(probe)
    again.save(by=karim, reason="saved again unchanged")
    again.save(by=karim)  # no reason is needed either: nothing changes

    assert len(history(probe)) == 1
    after = stored(probe)
    assert (after.modified_at, after.modified_by) == (before.modified_at, before.modified_by)
    assert (again.modified_at, again.modified_by_id) == (before.modified_at, before.modified_by_id)


def test_a_change_writes_one_row_and_a_resubmission_of_it_none(probe: AuditProbe, karim: Any) -> None:
    first, second = opened(probe), opened(probe)  # the same submission, twice
    first.score = second.score = 9
    first.save(by=karim, reason="source page 3")
    second.opened_version = None  # even without a version to compare: the values are those saved
    second.save(by=karim, reason="source page 3")

    rows = history(probe)
    assert len(rows) == 2 and stored(probe).score == 9
    assert changed_fields(rows) == [("karim", {"score"})]


def test_a_save_against_a_stale_version_is_refused_naming_who_changed_what_and_when(
    probe: AuditProbe, rahima: Any, karim: Any
) -> None:
    karims_page = opened(probe)
    rahimas_page = opened(probe)
    rahimas_page.score = 7
    rahimas_page.save(by=rahima, reason="weighed again")
    rahimas_row = history(probe)[-1]

    karims_page.severity = AuditProbe.Severity.SEVERE
    with pytest.raises(EditConflict) as raised:
        karims_page.save(by=karim, reason="graded again")

    conflict = raised.value
    assert [(c.field, c.opened, c.current, c.by, c.at) for c in conflict.changes] == [
        ("score", "3", "7", "Rahima", rahimas_row.history_date)
    ]
    assert conflict.yours == ["severity"]
    assert conflict.current_version == rahimas_row.history_id
    assert "Rahima" in " ".join(conflict.messages)
    # Nothing written: rahima's value stands, no row for karim.
    assert (stored(probe).score, stored(probe).severity) == (7, AuditProbe.Severity.MILD)
    assert [row.history_user.username for row in history(probe)] == ["rahima", "rahima"]


def test_after_a_conflict_the_user_applies_his_change_on_the_current_version_attributed_to_him(
    probe: AuditProbe, rahima: Any, karim: Any
) -> None:
    karims_page = opened(probe)
    rahimas_page = opened(probe)
    rahimas_page.score = 7
    rahimas_page.save(by=rahima, reason="weighed again")
    karims_page.severity = AuditProbe.Severity.SEVERE
    with pytest.raises(EditConflict) as raised:
        karims_page.save(by=karim, reason="graded again")

    again = opened(probe)  # the form shown after the conflict: the saved record, karim's entries on top
    assert again.opened_version == raised.value.current_version
    for name in raised.value.yours:
        setattr(again, name, getattr(karims_page, name))
    again.save(by=karim, reason="graded again")

    assert (stored(probe).score, stored(probe).severity) == (7, AuditProbe.Severity.SEVERE)
    assert changed_fields(history(probe)) == [("rahima", {"score"}), ("karim", {"severity"})]


def saver(record: AuditProbe, user: Any, **values: Any) -> Callable[[], str]:
    """A save of ``values`` from a page opened on ``record``'s version now (read before the threads start)."""
    page = opened(record)
    for name, value in values.items():
        setattr(page, name, value)

    def save() -> str:
        page.save(by=user, reason=f"{user.username} corrected it")
        return user.username

    return save


@pytest.mark.parametrize("attempt", range(5))
def test_two_saves_of_one_opened_version_at_the_same_instant_one_wins(
    probe: AuditProbe, rahima: Any, karim: Any, attempt: int
) -> None:
    winners, errors = run_together([saver(probe, rahima, score=7), saver(probe, karim, note="seen at the clinic")])

    assert len(winners) == 1, errors
    assert len(errors) == 1 and isinstance(errors[0], EditConflict), errors
    loser = {"rahima", "karim"} - set(winners)
    rows = history(probe)
    assert len(rows) == 2 and rows[-1].history_user.username == winners[0]
    assert loser.pop() not in {row.history_user.username for row in rows[1:]}
    after = stored(probe)
    assert (after.score, after.note) in {(7, ""), (3, "seen at the clinic")}


def test_a_save_waiting_on_the_row_lock_sees_the_winners_version_and_is_refused(
    probe: AuditProbe, rahima: Any, karim: Any
) -> None:
    """Both pages opened on one version; rahima's save is held inside its transaction (its history row written,
    not committed) while karim's save waits on the row: once rahima's commits, karim's is refused."""
    rahimas, karims = saver(probe, rahima, score=7), saver(probe, karim, note="seen at the clinic")
    outcome: dict[str, Any] = {}

    def run(name: str, call: Callable[[], str]) -> None:
        try:
            outcome[name] = call()
        except Exception as error:
            outcome[name] = error
        finally:
            connection.close()

    with WriteHold(HISTORY_TABLE) as hold:
        with hold.closed():
            first = threading.Thread(target=run, args=("rahima", rahimas))
            first.start()
            wait_for(hold.waiting_backend, "rahima's save waiting inside its transaction")
            second = threading.Thread(target=run, args=("karim", karims))
            second.start()
            wait_for(lambda: backend_waiting_on("transactionid") or backend_waiting_on("tuple"), "karim's save waiting")
        first.join(60)
        second.join(60)

    assert outcome["rahima"] == "rahima"
    assert isinstance(outcome["karim"], EditConflict)
    assert [c.field for c in outcome["karim"].changes] == ["score"]
    assert (stored(probe).score, stored(probe).note) == (7, "")
    assert changed_fields(history(probe)) == [("rahima", {"score"})]


def test_every_value_in_the_history_is_attributed_to_whoever_entered_it(
    probe: AuditProbe, rahima: Any, karim: Any, user_with_role: Any
) -> None:
    nadia = user_with_role(Role.INVESTIGATOR, username="nadia")
    stale = opened(probe)
    edits = [(karim, "score", 5), (nadia, "severity", AuditProbe.Severity.MODERATE), (rahima, "note", "fasting")]
    for user, name, value in edits:
        page = opened(probe)
        setattr(page, name, value)
        page.save(by=user, reason=f"{name} entered")
    stale.label = "second"  # a page opened before all of them: refused, so it cannot write their fields back
    with pytest.raises(EditConflict):
        stale.save(by=karim, reason="label corrected")

    assert changed_fields(history(probe)) == [("karim", {"score"}), ("nadia", {"severity"}), ("rahima", {"note"})]
    reasons = [row.history_change_reason for row in history(probe)[1:]]
    assert reasons == ["score entered", "severity entered", "note entered"]
