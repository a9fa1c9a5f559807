"""Only reachable links, the second half of the crawl (``test_no_forbidden_links``): the data manager, the
statistician, the administrator and one person holding two roles at two sites."""

from __future__ import annotations

import pytest

from tests.security.conftest import World
from tests.security.test_no_forbidden_links import HERE, PRINCIPALS, crawl_as, site_day  # noqa: F401  (the fixture)


@pytest.mark.parametrize("principal", [principal for principal in PRINCIPALS if principal not in HERE])
def test_no_link_on_any_page_answers_403(site_day: World, principal: str) -> None:  # noqa: F811
    crawl_as(site_day, principal)
