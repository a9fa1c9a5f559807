"""One audited save path and one follow-up dispatcher: history rows are written in one place only
(``trial_site/audit/base.py``), every model with a history saves through it, and a follow-up, outbox handler or
invariant named in the settings that resolves to nothing stops the server at start-up (system check E003)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from trial_site.audit.base import AuditedModel
from trial_site.audit.history import is_history_model
from trial_site.checks import check_follow_ups_resolve

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOT_APPLICATION = {"tests", "bench", ".venv", "venv", "node_modules", "var", "staticfiles", "static", ".git"}
THE_ONE_PLACE = "trial_site/audit/base.py"
# The audit kernel's bulk-create path writes the creation history rows of records made in bulk (issue #21).
THE_BULK_PATH = "trial_site/audit/bulk.py"
# What writes or attributes a history row by hand: simple-history's attribution attributes, its helpers, and the
# history model's own manager.
HISTORY_WRITES = re.compile(
    r"\b_history_user\b"
    r"|\._change_reason\s*=(?!=)"
    r"|\bupdate_change_reason\s*\("
    r"|\bbulk_(?:create_with|update_with)_history\s*\("
    r"|\bbulk_history_create\s*\("
    r"|\bhistory\s*\.\s*create\s*\("
    r"|\.history\s*\.\s*model\s*\.\s*objects\s*\.\s*(?:create|bulk_create|get_or_create|update_or_create)\s*\("
    r"|\.history\s*\.\s*model\s*\("
)


def application_files() -> list[Path]:
    """Every Python file of the application: the project's packages, not its tests, benchmarks or environment."""
    return sorted(
        path
        for path in PROJECT_ROOT.rglob("*.py")
        if not NOT_APPLICATION & set(path.relative_to(PROJECT_ROOT).parts[:-1])
    )


def code_only(source: str) -> str:
    """``source`` with comments and strings blanked (a docstring may name what the code must not do)."""
    lines = source.splitlines(keepends=True)
    blanked = [list(line) for line in lines]
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in {tokenize.COMMENT, tokenize.STRING}:
            continue
        (start_row, start_col), (end_row, end_col) = token.start, token.end
        for row in range(start_row, end_row + 1):
            line = blanked[row - 1]
            first = start_col if row == start_row else 0
            last = end_col if row == end_row else len(line)
            for column in range(first, last):
                if line[column] != "\n":
                    line[column] = " "
    return "".join("".join(line) for line in blanked)


def history_writes(path: Path) -> list[str]:
    code = code_only(path.read_text())
    relative = path.relative_to(PROJECT_ROOT).as_posix()
    return [
        f"{relative}:{number}: {line.strip()}"
        for number, line in enumerate(code.splitlines(), start=1)
        if HISTORY_WRITES.search(line)
    ]


def test_the_search_covers_the_application_and_finds_a_hand_written_history_row() -> None:
    files = {path.relative_to(PROJECT_ROOT).as_posix() for path in application_files()}
    for expected in (
        "trial_site/audit/base.py",
        "monitoring/services/locks.py",
        "randomization/services.py",
        "manage.py",
    ):
        assert expected in files
    assert not any(name.startswith(("tests/", "bench/", ".venv/")) for name in files)
    # What the search must catch, and what it must not.
    caught = [
        "record._history_user = request.user",
        "lock._change_reason = reason",
        "Lock.history.create(id=lock.pk, history_type='~')",
        "type(row).history.model.objects.create(**values)",
        "update_change_reason(record, 'fixed')",
    ]
    assert all(HISTORY_WRITES.search(line) for line in caught)
    ignored = ["dose_change_reason = models.TextField()", "if record._change_reason == 'x':", "row.history_user"]
    assert not any(HISTORY_WRITES.search(line) for line in ignored)
    assert code_only('"""sets _history_user"""\nx = 1  # _history_user\n').strip() == "x = 1"


def test_history_rows_are_written_in_one_place_only() -> None:
    found = [hit for path in application_files() for hit in history_writes(path)]
    elsewhere = [hit for hit in found if not hit.startswith((f"{THE_ONE_PLACE}:", f"{THE_BULK_PATH}:"))]
    assert found, f"the one save path ({THE_ONE_PLACE}) no longer attributes history rows"
    assert not elsewhere, "history written or attributed by hand outside the one save path:\n" + "\n".join(elsewhere)


# Django's user model cannot derive from AuditedModel: its one save path is a function of the same module.
SAVED_BY_FUNCTION = {"auth.User": "save_user"}


def test_every_model_with_a_history_saves_through_the_one_save_path() -> None:
    tracked = [model.instance_type for model in apps.get_models() if is_history_model(model)]
    assert len(tracked) > 20
    outside = [
        model._meta.label
        for model in tracked
        if not issubclass(model, AuditedModel) and model._meta.label not in SAVED_BY_FUNCTION
    ]
    assert not outside, f"models with a history that do not derive from AuditedModel: {outside}"
    from trial_site.audit import base

    assert all(callable(getattr(base, name, None)) for name in SAVED_BY_FUNCTION.values())


def follow_up_errors() -> list[str]:
    return [message.msg for message in check_follow_ups_resolve() if message.id == "trial_site.E003"]


def test_the_real_settings_resolve_and_pass_the_system_checks() -> None:
    assert follow_up_errors() == []
    assert not [message for message in checks.run_checks() if message.id == "trial_site.E003"]
    call_command("check", stdout=io.StringIO())  # would raise SystemCheckError


@pytest.mark.parametrize(
    ("setting", "broken"),
    [
        ("FOLLOW_UPS", {"randomised": ("visits.services.visit_schedule_create", "visits.services.no_such_function")}),
        ("FOLLOW_UPS", {"lab_panel_saved": ("safety.no_such_module.lab_alerts_check",)}),
        ("FOLLOW_UPS", {"randomized": ("visits.services.visit_schedule_create",)}),  # an event nobody fires
        ("FOLLOW_UPS", {"randomised": ("trial_site.outbox.SWEEP_BATCH",)}),  # resolves, but not to a callable
        ("OUTBOX_HANDLERS", ("randomization.tasks.email_randomisation", "randomization.tasks.email_randomization")),
        ("INVARIANTS", ("visits.invariants.allocations_have_schedules", "safety.invariants.no_such_check")),
    ],
    ids=["follow-up function", "follow-up module", "unknown event", "not callable", "outbox handler", "invariant"],
)
def test_a_path_that_resolves_to_nothing_fails_the_system_check(settings: Any, setting: str, broken: Any) -> None:
    if setting == "FOLLOW_UPS":
        broken = {**settings.FOLLOW_UPS, **broken}
    setattr(settings, setting, broken)

    errors = follow_up_errors()

    assert len(errors) == 1 and setting in errors[0], errors
    assert [m.id for m in checks.run_checks() if m.is_serious()] == ["trial_site.E003"]
    with pytest.raises(SystemCheckError, match=r"trial_site\.E003"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
