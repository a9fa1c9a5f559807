"""An export asked for again and again with one submission key, over HTTP against gunicorn's worker processes on
PostgreSQL: one export in the log (one row, one "asked" line in the access log) per form sent, however many times
it arrives at once or after; repeats go to the first export's page; no 500."""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import ExportJob
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, StaffSession, form_fields
from tests.monitoring.test_double_submit import BURSTS, locations, send_together, statuses
from trial_site.models import AccessEvent
from trial_site.roles import Role

CENTRE = "/exports/"


def export_form(session: StaffSession, **choices: str) -> dict[str, Any]:
    page = session.get(CENTRE)
    assert page.status_code == 200
    return {**form_fields(page.text, "//form[@data-testid='export-form']"), **choices}


def the_new_export(before: set[int]) -> ExportJob:
    """The one export recorded since ``before`` (the ids there were); fails if there are none or several."""
    new = list(ExportJob.objects.exclude(pk__in=before))
    assert len(new) == 1, f"{len(new)} exports recorded"
    return new[0]


def asked_lines(job: ExportJob) -> int:
    return AccessEvent.objects.filter(
        kind=AccessEvent.Kind.EXPORT, detail__startswith=f"export #{job.pk} asked"
    ).count()


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_export_job_asked_2_5_and_20_times_at_once_is_recorded_once_and_every_repeat_goes_to_its_page(
    live_gunicorn: GunicornServer,  # noqa: F811
    user_with_role: Any,
) -> None:
    session = live_gunicorn.login(user_with_role(Role.DATA_MANAGER, username="dana"))
    for n in BURSTS:
        data = export_form(session, kind="odm")
        before = set(ExportJob.objects.values_list("pk", flat=True))

        responses = send_together(session, CENTRE, data, n)

        job = the_new_export(before)
        assert statuses(responses) == [302] * (n + 1)
        assert locations(responses) == {f"/exports/jobs/{job.pk}/"}
        assert asked_lines(job) == 1
        assert not job.streamed
    assert ExportJob.objects.count() == len(BURSTS)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_streamed_export_asked_2_5_and_20_times_at_once_is_sent_once_and_every_repeat_goes_to_its_log_row(
    live_gunicorn: GunicornServer,  # noqa: F811
    user_with_role: Any,
) -> None:
    session = live_gunicorn.login(user_with_role(Role.DATA_MANAGER, username="dana"))
    for n in BURSTS:
        data = export_form(session, kind="dictionary_csv")
        before = set(ExportJob.objects.values_list("pk", flat=True))

        responses = send_together(session, CENTRE, data, n)

        job = the_new_export(before)
        assert statuses(responses) == [200] + [302] * n
        sent = next(response for response in responses if response.status_code == 200)
        assert sent.headers["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
        assert sent.headers["X-Export-Job"] == str(job.pk)
        assert locations([r for r in responses if r.status_code == 302]) == {f"/exports/jobs/{job.pk}/"}
        assert asked_lines(job) == 1
        assert job.streamed
        repeat_page = session.get(f"/exports/jobs/{job.pk}/")
        assert repeat_page.status_code == 200 and 'data-testid="export-streamed"' in repeat_page.text
    assert ExportJob.objects.count() == len(BURSTS)
