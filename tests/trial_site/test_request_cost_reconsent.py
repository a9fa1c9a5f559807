"""A coordinator's trivial page with the menu's "Re-consent due" count (#21): at most 3 queries while a consent
form version asks everyone to sign again, the same for 3 or 30 participants who owe it; a version approved on one
request is in the menu on the next (the approved versions are cached across requests in Redis, under a generation
every write replaces). Transactional: the requests run as in production, outside a transaction, and the
approvals commit."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from screening import selectors, services
from screening.models import Participant
from screening.reconsent_count import CONSENTS
from tests.screening.factories import consent_for, consent_moment, participant_fields, register
from tests.screening.test_reconsent import reconsent_now
from tests.trial_site.session_clock import cached
from tests.trial_site.test_request_cost import TRIVIAL_PAGE_QUERIES, logged_in
from trial_site.amendments import protocol_version_approve, protocol_version_propose
from trial_site.protocol_versions import amendable, base_protocol, protocol_versions_changed
from trial_site.roles import Role

pytestmark = [pytest.mark.needs_redis, pytest.mark.django_db(transaction=True)]

PAGE = "/sites/"
BADGE = re.compile(r'data-testid="nav-todo-reconsent">[^<]*<span class="badge[^"]*">(\d+)</span>')


@pytest.fixture(autouse=True)
def fresh_generation() -> Any:
    """Nothing cached by another test (their rows were flushed): new generations before and after."""
    protocol_versions_changed()
    CONSENTS.bump()
    yield
    protocol_versions_changed()
    CONSENTS.bump()


def approve_consent_2(data_manager: Any, investigator: Any) -> None:
    """Version 2.0 through the services, in force today: consent form 2.0 asks everyone to sign again."""
    today = timezone.localdate()
    content = amendable(base_protocol())
    content["consent_forms"] = [  # 1.0 still in use (new participants may sign it, and then owe 2.0)
        *content["consent_forms"],
        {"version": "2.0", "effective_from": today.isoformat(), "effective_to": None, "reconsent": True},
    ]
    protocol_version_propose(
        by=data_manager, version="2.0", effective_from=today, summary="Consent form 2.0.", content=content
    )
    protocol_version_approve(version="2.0", by=investigator, reason="Ethics committee approval.")


def signed_2_0(site: Any, by: Any) -> Participant:
    fields = participant_fields()
    # Form 2.0 is in force from today: not an hour before now when that is still yesterday at the site.
    midnight = datetime.combine(timezone.localdate(), time(0), tzinfo=ZoneInfo(site.time_zone))
    consented_at = max(consent_moment(site, fields["screening_date"]), midnight)
    consent = consent_for(site, by, form_version="2.0", consented_at=consented_at)
    return services.participant_register(participant=Participant(site=site, **fields), consent=consent, by=by)


def menu_count(client: Client) -> tuple[int | None, list[str]]:
    """The menu's re-consent count (None without the link) and the page's queries."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PAGE)
    assert response.status_code == 200
    found = BADGE.search(response.content.decode())
    return (int(found.group(1)) if found else None), [query["sql"] for query in queries.captured_queries]


def test_the_coordinators_page_costs_the_same_for_3_and_30_participants_who_owe_a_re_consent(
    site: Any, coordinator: Any, user_with_role: Any, password: str
) -> None:
    data_manager = user_with_role(Role.DATA_MANAGER)
    investigator = user_with_role(Role.INVESTIGATOR)
    participants = [register(site, coordinator) for _ in range(3)]
    client = logged_in("coordinator", password)
    client.get(PAGE)  # the first page after login
    assert menu_count(client)[0] is None  # nobody owes a re-consent yet: no link

    approve_consent_2(data_manager, investigator)
    few_cold, few_cold_sql = menu_count(client)  # the first page after a write counts once, in SQL
    few, few_sql = menu_count(client)
    assert few == few_cold == 3 == selectors.reconsent_count(coordinator)
    assert few == len(selectors.participants_to_reconsent(coordinator))
    assert len(few_sql) <= TRIVIAL_PAGE_QUERIES or not cached(), "\n".join(few_sql)
    counts = [sql for sql in few_cold_sql if 'FROM "screening_participant"' in sql]
    assert len(counts) == 1 and counts[0].startswith("SELECT COUNT(*)"), "\n".join(few_cold_sql)
    assert not any("trial_site_protocolversion" in sql for sql in few_sql)  # read once after the approval

    participants += [signed_2_0(site, coordinator) for _ in range(2)]  # owe nothing
    participants += [register(site, coordinator) for _ in range(27)]
    many_cold, many_cold_sql = menu_count(client)
    many, many_sql = menu_count(client)
    assert many == many_cold == 30 == len(selectors.participants_to_reconsent(coordinator))
    assert len(many_sql) == len(few_sql), "\n".join(many_sql)
    assert [sql for sql in many_cold_sql if 'FROM "screening_participant"' in sql] == counts  # the same count query
    assert len(many_cold_sql) <= TRIVIAL_PAGE_QUERIES + 1 or not cached(), "\n".join(many_cold_sql)

    reconsent_now(participants[0], coordinator)  # the next page counts again: one fewer
    assert menu_count(client)[0] == 29
