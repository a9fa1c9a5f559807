"""Delegating a permission on the server: ``manage.py permission_delegate``. Only the delegable permissions, with a
reason, in the account's history with who did it; it counts where the person holds a role; ending it takes it back."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from trial_site.permissions import user_can

pytestmark = pytest.mark.django_db

RANDOMISE = "randomization.randomise"


def delegate(*args: str) -> str:
    out = StringIO()
    call_command("permission_delegate", *args, stdout=out)
    return out.getvalue()


def fresh(user: Any) -> Any:
    return get_user_model().objects.get(pk=user.pk)


def test_a_coordinator_delegated_to_randomise_may_then_and_not_after_the_end_each_step_in_the_history(
    coordinator: Any, user_with_role: Any, site: Any, other_site: Any
) -> None:
    from trial_site.roles import Role

    operator = user_with_role(Role.ADMINISTRATOR, username="operator")
    assert not user_can(coordinator, RANDOMISE, site)
    out = delegate(coordinator.username, RANDOMISE, "--reason", "PI on leave, SOP 7", "--by", "operator")
    assert "delegated" in out
    assert user_can(fresh(coordinator), RANDOMISE, site)
    assert not user_can(fresh(coordinator), RANDOMISE, other_site)  # no role there
    assert delegate(coordinator.username, RANDOMISE, "--reason", "again") == "nothing to change\n"
    delegate(coordinator.username, RANDOMISE, "--reason", "PI back", "--end")
    assert not user_can(fresh(coordinator), RANDOMISE, site)
    rows = list(get_user_model().history.filter(id=coordinator.pk).order_by("history_id"))
    delegated, ended = rows[-2:]
    assert (delegated.history_user, delegated.history_change_reason) == (
        operator,
        f"delegated: {RANDOMISE} (PI on leave, SOP 7)",
    )
    assert (ended.history_user.username, ended.history_change_reason) == (
        "system",
        f"delegation ended: {RANDOMISE} (PI back)",
    )


def test_only_delegable_permissions_with_a_reason_and_known_users(assessor: Any) -> None:
    with pytest.raises(CommandError):
        delegate(assessor.username, "randomization.view_arm", "--reason", "curious")
    with pytest.raises(CommandError):
        delegate(assessor.username, RANDOMISE, "--reason", "   ")
    with pytest.raises(CommandError):
        delegate("nobody", RANDOMISE, "--reason", "x")
    assert not fresh(assessor).user_permissions.exists()
