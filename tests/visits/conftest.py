from __future__ import annotations

from typing import Any

import pytest

from trial_site.roles import Role


@pytest.fixture
def coordinator(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR)


@pytest.fixture
def investigator(user_with_role: Any) -> Any:
    return user_with_role(Role.INVESTIGATOR)


@pytest.fixture
def statistician(user_with_role: Any) -> Any:
    return user_with_role(Role.STATISTICIAN)


@pytest.fixture
def assessor(user_with_role: Any) -> Any:
    return user_with_role(Role.BLINDED_ASSESSOR)
