"""Roles bound to their site, exports: every pair whose role at site A is a data manager, statistician or
administrator; every export kind of the catalogue, for all the pair's sites and for site B alone (``role_pairs``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from tests.security.conftest import World
from tests.security.role_pairs import (
    ROLES,
    ExportsOutcome,
    Pair,
    export_outcome,
    export_problems,
    pair_id,
    pairs_where,
)

pytestmark = pytest.mark.django_db

PAIRS = pairs_where(at_a=ROLES[4:])


@pytest.fixture(scope="module")
def outcome(built_world: World, django_db_blocker: Any) -> Iterator[ExportsOutcome]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield export_outcome(built_world, PAIRS)
        transaction.set_rollback(True)


@pytest.mark.parametrize("pair", PAIRS, ids=map(pair_id, PAIRS))
def test_every_export_kind_covers_a_site_only_where_that_sites_role_may_export_it(
    pair: Pair, outcome: ExportsOutcome
) -> None:
    wrong = export_problems(pair, outcome)
    assert not wrong, "\n".join(wrong)
