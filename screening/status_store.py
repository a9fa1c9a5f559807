"""The stored screening status and eligibility decision (``ScreeningState``): written, never recomputed per row.

``screening_state_refresh(participant_id)`` recomputes one participant's row with the one pure rule
(``screening.selectors.screening_row``: ``clinical.eligibility.decide_eligibility`` and ``screening.status``) and
stores it. The screening services call it inside their transaction after every write that changes what the rule
reads: registration and re-screening (consent), a screening form saved (a confirmation voided with it), the
participant's details (date of birth and sex count), the confirmation, the screen failure, the withdrawal. Work of
the apps to the right reaches it through the follow-ups (``FOLLOW_UPS``): ``after_randomisation`` (``randomised``)
and ``after_amendment`` (``protocol_amended``).

The decision is judged by the protocol version in force today at the site; a version that comes into force later
makes rows stale without any write. ``states_current`` (an invariant of ``check_invariants``, whose beat task runs
every 15 minutes) finds rows missing or made under another version than the one in force and refreshes them.
``refresh_all`` recomputes every row in bulk (after data written around the services, as the benchmark generator
does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from screening.models import Participant, ScreeningState
from screening.selectors import participants_with_screening, protocol_for, screening_row, with_protocol_versions
from trial_site.invariants import Finding
from trial_site.models import Site
from trial_site.protocol_versions import approved_versions, protocol_on

CHUNK = 500
STATE_FIELDS = (
    "site", "status", "decision", "failed_codes", "unknown_codes", "failure_codes", "forms_entered",
    "protocol_version", "refreshed_at",
)  # fmt: skip


def state_of(participant: Participant) -> ScreeningState:
    """The row the rule gives for ``participant`` (loaded with ``participants_with_screening``), not saved."""
    row = screening_row(participant)
    failure = getattr(participant, "screen_failure", None)
    return ScreeningState(
        participant_id=participant.pk,
        site_id=participant.site_id,
        status=row.status.value,
        decision=row.decision.decision.value,
        failed_codes=" ".join(row.decision.failed_codes),
        unknown_codes=" ".join(row.decision.unknown_codes),
        failure_codes=" ".join(failure.failed_codes) if failure is not None else "",
        forms_entered=row.forms_entered,
        protocol_version=protocol_for(participant).version,
        refreshed_at=timezone.now(),
    )


def _store(states: list[ScreeningState]) -> None:
    ScreeningState.objects.bulk_create(
        states, update_conflicts=True, unique_fields=["participant"], update_fields=list(STATE_FIELDS)
    )


def _refresh(participants: QuerySet[Participant]) -> int:
    """Recompute and store the rows of ``participants``, CHUNK at a time; how many."""
    ids = list(participants.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = Participant.objects.filter(pk__in=ids[start : start + CHUNK]).order_by("pk")
        _store([state_of(p) for p in with_protocol_versions(participants_with_screening(chunk))])
    return len(ids)


def screening_state_refresh(participant_id: int) -> ScreeningState:
    """Recompute and store one participant's row. Call inside the transaction of the write that changed its inputs
    (the services do), after that write."""
    participant = participants_with_screening(Participant.objects.filter(pk=participant_id)).get()
    state = state_of(participant)
    _store([state])
    return state


def refresh_all() -> int:
    """Recompute every participant's row in bulk (CHUNK participants per query); returns how many. For data
    written around the services (the benchmark generator's bulk inserts) and after a restore."""
    return _refresh(Participant.objects.all())


def _stale() -> QuerySet[Participant]:
    """Participants without a row, or whose row was decided under another protocol version than the one in
    force today at their site."""
    versions = approved_versions()
    now = timezone.now()
    other_version = Q()
    for site in Site.objects.only("pk", "time_zone"):
        in_force = protocol_on(timezone.localdate(now, ZoneInfo(site.time_zone)), versions).version
        other_version |= Q(site_id=site.pk) & ~Q(screening_state__protocol_version=in_force)
    return Participant.objects.filter(Q(screening_state__isnull=True) | other_version)


def refresh_stale() -> int:
    """Refresh the rows that are missing or were decided under another protocol version; how many."""
    return _refresh(_stale())


# --- Follow-ups of the apps to the right (``FOLLOW_UPS``) -----------------------------------------------------------


def after_randomisation(*, allocation_id: int, **_: Any) -> None:
    """``randomised``: the participant's status becomes "randomised"."""
    participant_id = (
        Participant.objects.filter(allocation__pk=allocation_id).values_list("pk", flat=True).first()  # reverse name
    )
    if participant_id is not None:
        screening_state_refresh(participant_id)


def after_amendment(*, version: str, **_: Any) -> None:
    """``protocol_amended``: when the approved version is in force today at a site, its rows are decided again
    (a version in force from a later day is taken up by ``states_current`` on that day)."""
    refresh_stale()


# --- The invariant (``settings.INVARIANTS``) -------------------------------------------------------------------------


def states_current(*, repair: bool) -> Finding:
    """Every participant has a stored screening state, decided under the protocol version in force at its site.
    The repair recomputes those rows (a derived cache: nothing clinical is changed, so no history row)."""
    finding = Finding("every participant's stored screening status is current")
    stale = list(_stale().order_by("pk").values_list("screening_number", flat=True)[:1000])
    finding.problems = [f"{number}: stored screening status missing or made under another version" for number in stale]
    if repair and stale:
        refresh_stale()
        finding.repaired = list(finding.problems)
    return finding


COMPARED = tuple(f"{name}_id" if name == "site" else name for name in STATE_FIELDS if name != "refreshed_at")


def stored_differs(participants: Iterable[Participant]) -> list[str]:
    """The screening numbers whose stored row differs from the rule's result now (for tests and audits)."""
    rows = {s.participant_id: s for s in ScreeningState.objects.filter(participant__in=[p.pk for p in participants])}
    differs = []
    for participant in with_protocol_versions(
        participants_with_screening(Participant.objects.filter(pk__in=[p.pk for p in participants]))
    ):
        stored, computed = rows.get(participant.pk), state_of(participant)
        if stored is None or any(getattr(stored, name) != getattr(computed, name) for name in COMPARED):
            differs.append(participant.screening_number)
    return differs


__all__ = [
    "after_amendment",
    "after_randomisation",
    "refresh_all",
    "refresh_stale",
    "screening_state_refresh",
    "state_of",
    "states_current",
    "stored_differs",
]
