"""Approvals at the same moment, with real threads on PostgreSQL: an amendment is approved, and applied, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.concurrency.threads import run_together
from tests.factories import make_site, make_user
from tests.randomization.factories import list_in_use
from tests.trial_site.test_amendments import propose
from tests.visits.test_schedule import randomised_on
from trial_site.amendments import protocol_version_approve
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.roles import Role
from visits.models import Visit


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_five_approvals_at_once_approve_and_apply_once() -> None:
    site = make_site(code="DHK")
    coordinator = make_user("coordinator", role=Role.COORDINATOR, site=site)
    investigators = [make_user(f"investigator-{n}", role=Role.INVESTIGATOR, site=site) for n in range(5)]
    list_in_use(make_user("statistician", role=Role.STATISTICIAN, site=site))
    randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigators[0])
    propose(make_user("dana", role=Role.DATA_MANAGER, site=site))

    results, errors = run_together(
        [lambda by=by: protocol_version_approve(version="2.0", by=by, reason="EC approval") for by in investigators]
    )

    assert len(results) == 1
    assert len(errors) == 4 and all(isinstance(error, ValidationError) for error in errors)
    assert all("approved already" in error.messages[0] for error in errors)
    record = ProtocolVersion.objects.get()
    assert record.status == "approved" and record.approved_by == results[0].approved_by
    assert Visit.objects.filter(code="W6").count() == 1
    assert record.applied["visits_added"] == 1
