"""Roles bound to their site, pages: every pair whose role at site B is a data manager, statistician or
administrator; every URL that names no object, and every object URL with site B's object (``role_pairs``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from tests.security.conftest import World
from tests.security.role_pairs import ROLES, PagesOutcome, Pair, page_outcome, page_problems, pair_id, pairs_where

pytestmark = pytest.mark.django_db

PAIRS = pairs_where(at_b=ROLES[4:])


@pytest.fixture(scope="module")
def outcome(built_world: World, django_db_blocker: Any) -> Iterator[PagesOutcome]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield page_outcome(built_world, PAIRS)
        transaction.set_rollback(True)


@pytest.mark.parametrize("pair", PAIRS, ids=map(pair_id, PAIRS))
def test_role_x_at_a_and_y_at_b_reach_each_sites_data_only_by_that_sites_role(
    pair: Pair, outcome: PagesOutcome
) -> None:
    wrong = page_problems(pair, outcome)
    assert not wrong, "\n".join(wrong)
