"""Roles bound to their site, pages: every pair whose role at site B is a coordinator, investigator, blinded
assessor or monitor; every URL that names no object, and every object URL with site B's object (``role_pairs``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from exports.formats import FORMATS
from tests.security import (
    test_roles_bound_to_sites_exports_1,
    test_roles_bound_to_sites_exports_2,
    test_roles_bound_to_sites_pages_2,
)
from tests.security.conftest import World
from tests.security.role_pairs import (
    ROLES,
    PagesOutcome,
    Pair,
    export_kinds,
    page_outcome,
    page_problems,
    pair_id,
    pairs_where,
)

pytestmark = pytest.mark.django_db

PAIRS = pairs_where(at_b=ROLES[:4])


@pytest.fixture(scope="module")
def outcome(built_world: World, django_db_blocker: Any) -> Iterator[PagesOutcome]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield page_outcome(built_world, PAIRS)
        transaction.set_rollback(True)


def test_the_matrix_covers_every_pair_data_url_and_export_kind(outcome: PagesOutcome) -> None:
    every_pair = set(pairs_where())
    assert len(every_pair) == len(ROLES) ** 2 == 49
    pages = [*PAIRS, *test_roles_bound_to_sites_pages_2.PAIRS]
    exports = [*test_roles_bound_to_sites_exports_1.PAIRS, *test_roles_bound_to_sites_exports_2.PAIRS]
    assert sorted(pages) == sorted(every_pair) and sorted(exports) == sorted(every_pair)
    assert len(outcome.b_objects) >= 35, sorted(outcome.b_objects)
    for name in ("safety:summary", "safety:index", "access_log", "exports:index", "exports:reports",
                 "monitoring:queries", "monitoring:locks", "randomization:index", "screening:index",
                 "visits:index", "visits:missing_forms", "reminders:index", "monitoring:verification",
                 "monitoring:signatures", "monitoring:audit_recent", "home"):  # fmt: skip
        assert name in outcome.lists, name
    assert {kind for kind, _dataset in export_kinds()} == set(FORMATS)


@pytest.mark.parametrize("pair", PAIRS, ids=map(pair_id, PAIRS))
def test_role_x_at_a_and_y_at_b_reach_each_sites_data_only_by_that_sites_role(
    pair: Pair, outcome: PagesOutcome
) -> None:
    wrong = page_problems(pair, outcome)
    assert not wrong, "\n".join(wrong)
