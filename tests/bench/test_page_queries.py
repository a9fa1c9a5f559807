"""The pages of the pages benchmark (``bench/pages.py``) that no other test checks for N+1 queries run the same
number of queries with a few participants or more: the home pages that show data, a participant's screening and
visits pages and audit trail, the monitoring front page and the safety summary.

(The participant list, the screening log, the missing forms, the visits due, the recent changes and the reports
dashboard have such a test next to their app's other tests.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring.services import queries
from safety import services as safety_services
from safety.models import AdverseEvent, SaeReport
from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services

pytestmark = pytest.mark.django_db


def busy_participant(site: Any, coordinator: Any, investigator: Any, monitor: Any) -> Participant:
    """Randomised 30 days ago with Day 1 done, a serious adverse event (an SAE report not yet sent) and an open
    data query: a participant who puts a row in every list these pages read."""
    participant = randomised_on(timezone.localdate() - timedelta(days=30), site, coordinator, investigator)
    day1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=day1, by=coordinator, done_on=day1.target_date)
    event = AdverseEvent(
        participant=participant, description="Pneumonia", onset_date=timezone.localdate() - timedelta(days=3),
        grade=3, relationship="possible", action_taken="interrupted", outcome="recovering",
        special_interest="infection", serious_hospitalisation=True, learned_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    safety_services.adverse_event_record(event=event, by=coordinator)
    queries.query_raise(
        record=day1, field="done_on", message="Please check the date.", by=monitor, assignee=coordinator
    )
    return participant


def test_dashboards_and_participant_pages_run_the_same_queries_for_2_or_6_participants(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, user_with_role: Any
) -> None:
    monitor = user_with_role(Role.MONITOR, username="monitor")
    data_manager = user_with_role(Role.DATA_MANAGER, username="dana")
    list_in_use(statistician)
    chosen = busy_participant(site, coordinator, investigator, monitor)
    busy_participant(site, coordinator, investigator, monitor)
    number = chosen.screening_number
    pages = {
        "home: coordinator": (coordinator, reverse("home")),
        "home: investigator": (investigator, reverse("home")),
        "home: monitor": (monitor, reverse("home")),
        "home: data manager": (data_manager, reverse("home")),
        "screening summary": (coordinator, reverse("screening:participant", args=[number])),
        "visits and forms": (coordinator, reverse("visits:participant", args=[number])),
        "audit trail": (monitor, reverse("monitoring:audit_participant", args=[number])),
        "monitoring front page": (monitor, reverse("monitoring:index")),
        "safety summary": (investigator, reverse("safety:summary")),
    }
    clients: dict[Any, Client] = {}
    for user, _path in pages.values():
        if user not in clients:
            clients[user] = Client()
            clients[user].force_login(user)

    def count_queries() -> dict[str, int]:
        counted = {}
        for name, (user, path) in pages.items():
            with CaptureQueriesContext(connection) as captured:
                response = clients[user].get(path)
            assert response.status_code == 200, name
            counted[name] = len(captured.captured_queries)
        return counted

    count_queries()  # warm the caches (content types, the user's roles are per request)
    with_two = count_queries()
    for _ in range(3):
        busy_participant(site, coordinator, investigator, monitor)
    register(site, coordinator)  # and one still in screening
    assert Participant.objects.count() == 6
    assert SaeReport.objects.filter(submitted_at__isnull=True).count() == 5
    home = clients[investigator].get(reverse("home")).content.decode()
    assert "5 SAE report(s) not yet sent, 5 overdue" in home  # the dashboard counts every participant's report
    assert count_queries() == with_two
