"""Two members of staff change the same adverse event, or the same SAE report, over HTTP against gunicorn's worker
processes on PostgreSQL: the second save, after the first or at the same instant, is refused with a message naming
the first, keeps the second person's entries and shows the first one's values; nothing is lost, and each history
row is attributed to the person who entered its values."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from safety import services
from safety.models import AdverseEvent, SaeReport
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, fire_together, html_form
from tests.randomization.factories import list_in_use
from tests.safety.test_safety import event_for
from tests.visits.test_concurrent_edits import (
    Editor,
    changes_in_history,
    check_nothing_lost,
    check_refusal,
    race,
    save_again,
)
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role

CHANGE_FORM = "//form[.//input[@name='action'][@value='change']]"
SUBMIT_FORM = "//form[contains(@action, '/submit/')]"
SIGN_FORM = "//form[contains(@action, '/sign/')]"
SHOWN = {"3": "3 severe", "probable": "Probable"}  # how a value reads in the conflict panel


def shown(value: str) -> str:
    return SHOWN.get(value, value)


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)


ORDERS = ["rahima first", "karim first", "at the same instant"]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("order", ORDERS)
def test_two_people_changing_an_adverse_event_lose_nothing(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Any,
    user_with_role: Any,
    order: str,
) -> None:
    rahima = user_with_role(Role.COORDINATOR, username="rahima")
    karim = user_with_role(Role.INVESTIGATOR, username="karim")
    event = services.adverse_event_record(event=event_for(participant), by=rahima)
    grade = Editor("Rahima", live_gunicorn.login(rahima), {"grade": "3"}, "re-graded from the source")
    treatment = Editor("Karim", live_gunicorn.login(karim), {"treatment_given": "aciclovir 800 mg"}, "treatment added")
    first, second = (treatment, grade) if order == "karim first" else (grade, treatment)

    outcome = race(f"/safety/events/{event.pk}/", CHANGE_FORM, first, second, together=order == "at the same instant")

    check_refusal(outcome, CHANGE_FORM, shown=shown)
    event.refresh_from_db()
    assert event.history.count() == 2
    save_again(outcome, CHANGE_FORM)
    check_nothing_lost(event, outcome)
    assert (event.grade, event.treatment_given) == (3, "aciclovir 800 mg")


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("order", ["sent first", "signed first", "at the same instant"])
def test_an_sae_report_sent_and_signed_at_once_keeps_both(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Any,
    user_with_role: Any,
    order: str,
) -> None:
    """The coordinator records the report as sent while the investigator signs it, both from the page as they
    opened it: the second is refused and shown what the first did; saved again, both are kept."""
    rahima = user_with_role(Role.COORDINATOR, username="rahima")
    karim = user_with_role(Role.INVESTIGATOR, username="karim")
    event = services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=rahima)
    report = event.sae_reports.get()
    narrative = "Admitted with thoracic zoster; intravenous aciclovir."
    sent = Editor("Rahima", live_gunicorn.login(rahima), {"narrative": narrative}, form=SUBMIT_FORM)
    signed = Editor("Karim", live_gunicorn.login(karim), {"causality": "probable"}, form=SIGN_FORM)
    first, second = (signed, sent) if order == "signed first" else (sent, signed)

    outcome = race(f"/safety/events/{event.pk}/", "", first, second, together=order == "at the same instant")

    check_refusal(outcome, "", shown=shown)
    assert SaeReport.objects.get(pk=report.pk).history.count() == 2
    save_again(outcome, "")
    report.refresh_from_db()
    assert report.narrative == narrative and report.submitted_at is not None
    assert (report.causality, report.signed_by) == ("probable", karim)
    by_whom = {who: changed for who, _reason, changed in changes_in_history(report)}
    assert by_whom == {"Rahima": {"narrative", "submitted_at"}, "Karim": {"causality", "signed_by", "signed_at"}}


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_change_sent_twice_writes_one_history_row(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Any,
    coordinator: Any,
) -> None:
    """A double click on Save of a changed adverse event, and the same page sent again later: one change."""
    event = services.adverse_event_record(event=event_for(participant), by=coordinator)
    session = live_gunicorn.login(coordinator)
    page = session.get(f"/safety/events/{event.pk}/")
    body = {**html_form(page.text, CHANGE_FORM).fields, "grade": "3", "reason_for_change": "re-graded"}
    url = f"/safety/events/{event.pk}/"
    responses = fire_together(lambda: session.twin().post(url, body), n_threads=2)
    responses.append(session.post(url, body))
    assert [getattr(r, "status_code", r) for r in responses] == [302, 302, 302]
    assert AdverseEvent.objects.get().grade == 3
    assert changes_in_history(event) == [("Coordinator", "re-graded", {"grade"})]
