"""The one dispatcher of follow-ups between apps: an app's write sets off work in the apps after it without
importing them. ``settings.FOLLOW_UPS`` names, per event, the callables to run in order; they run inside the
caller's transaction, so the write and its follow-ups happen together or not at all. The system check
``trial_site.E003`` resolves every name at start-up (``resolve_all``).

A follow-up may carry a ``probe``: ``probe(record)`` returns named query expressions (an ``Exists``, a
``Subquery``) that the audited save reads together with the saved row it locks anyway (``AuditedModel.save``), so
that a follow-up with nothing to do (no lock, no verification to clear) costs no query of its own. The follow-up
reads its answer with ``probed(record, name)``: None when nothing was read (a new record, a save outside the audited
path), and it then asks the database itself, as without a probe."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

EVENTS = (
    "clinical_write",
    "clinical_record_changed",
    "randomised",
    "schedule_changed",
    "lab_panel_saved",
    "protocol_amended",
)


@cache
def _resolved(paths: tuple[str, ...]) -> tuple[Callable[..., Any], ...]:
    return tuple(import_string(path) for path in paths)


def targets(event: str) -> tuple[Callable[..., Any], ...]:
    """The callables of ``event``, in order (a KeyError for an event nobody declared)."""
    if event not in EVENTS:
        raise KeyError(f"no follow-up event {event!r}: declare it in trial_site.hooks.EVENTS and FOLLOW_UPS")
    return _resolved(tuple(settings.FOLLOW_UPS.get(event, ())))


def follow_up(event: str, *args: Any, **kwargs: Any) -> list[Any]:
    """Run every follow-up of ``event`` with these arguments, in order, in the caller's transaction."""
    return [target(*args, **kwargs) for target in targets(event)]


PROBED = "_probed"  # the attribute of a record, during its save, that holds the probes' answers


def probes(event: str, record: Any) -> dict[str, Any]:
    """The query expressions the follow-ups of ``event`` ask to read with ``record``'s saved row, by name."""
    found: dict[str, Any] = {}
    for target in targets(event):
        probe = getattr(target, "probe", None)
        if probe is not None:
            found.update(probe(record))
    return found


def probed(record: Any, name: str) -> Any:
    """The answer to the probe ``name`` read with ``record``'s saved row during this save, or None when not read."""
    return getattr(record, "__dict__", {}).get(PROBED, {}).get(name)


def schedule_changed(participant_id: int) -> None:
    """A participant's visits or reminder choices changed: the visit reminders are planned again."""
    follow_up("schedule_changed", participant_id=participant_id)


def unresolved() -> list[str]:
    """Every configured follow-up, outbox handler and record panel whose dotted path resolves to nothing, or an
    event in FOLLOW_UPS the dispatcher does not know."""
    problems = [f"FOLLOW_UPS[{event!r}]: no such event" for event in settings.FOLLOW_UPS if event not in EVENTS]
    named = [(f"FOLLOW_UPS[{event!r}]", path) for event, paths in settings.FOLLOW_UPS.items() for path in paths]
    for setting in ("OUTBOX_HANDLERS", "INVARIANTS", "RECORD_PANELS", "RECORD_FIELD_FLAGS", "RECORD_STATUS_FLAGS"):
        named += [(setting, path) for path in getattr(settings, setting, ())]
    for where, path in named:
        try:
            target = import_string(path)
        except ImportError as error:
            problems.append(f"{where}: {path} does not resolve ({error})")
        else:
            if not callable(target):
                problems.append(f"{where}: {path} is not callable")
    return problems
