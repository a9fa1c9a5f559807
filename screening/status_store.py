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

from collections import Counter
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from screening.models import Participant, ScreeningState, ScreeningTally
from screening.selectors import participants_with_screening, protocol_for, screening_row, with_protocol_versions
from screening.status import ScreeningStatus
from trial_site.invariants import Finding
from trial_site.models import Site
from trial_site.protocol_versions import approved_versions, protocol_on
from trial_site.tallies import tally_add

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


TallyKey = tuple[int, str, str, str]  # site, status, decision, screen failure's codes


def _key(state: ScreeningState) -> TallyKey:
    return (state.site_id, state.status, state.decision, state.failure_codes)


def _store(states: list[ScreeningState], *, tallies: bool = True) -> None:
    """Store the rows and move their participants between the tallies (the previous rows are locked first, so two
    writes of one participant count it once)."""
    if not tallies:
        ScreeningState.objects.bulk_create(
            states, update_conflicts=True, unique_fields=["participant"], update_fields=list(STATE_FIELDS)
        )
        return
    ids = [state.participant_id for state in states]
    before = ScreeningState.objects.select_for_update().filter(participant_id__in=ids).order_by("participant_id")
    moves: Counter[TallyKey] = Counter()
    for previous in before.only("site_id", "status", "decision", "failure_codes"):
        moves[_key(previous)] -= 1
    for state in states:
        moves[_key(state)] += 1
    ScreeningState.objects.bulk_create(
        states, update_conflicts=True, unique_fields=["participant"], update_fields=list(STATE_FIELDS)
    )
    _tally_add({key: n for key, n in moves.items() if n})


TALLY_KEY = ("site_id", "status", "decision", "failure_codes")


def _tally_add(moves: dict[TallyKey, int]) -> None:
    """Add ``moves`` to the tallies (``trial_site.tallies.tally_add``: one upsert, in the keys' order)."""
    tally_add(ScreeningTally, TALLY_KEY, ("participants",), {key: {"participants": n} for key, n in moves.items()})


def _tallies_from_states() -> dict[TallyKey, int]:
    grouped = ScreeningState.objects.values("site_id", "status", "decision", "failure_codes").annotate(n=Count("pk"))
    return {(g["site_id"], g["status"], g["decision"], g["failure_codes"]): g["n"] for g in grouped.order_by()}


def _tallies() -> dict[TallyKey, int]:
    rows = ScreeningTally.objects.exclude(participants=0)
    return {(t.site_id, t.status, t.decision, t.failure_codes): t.participants for t in rows}


@transaction.atomic
def tallies_rebuild() -> None:
    """Count the stored states again into the tallies (a GROUP BY over every row: for ``refresh_all`` and repairs)."""
    ScreeningTally.objects.all().delete()
    _tally_add(_tallies_from_states())


def _refresh(participants: QuerySet[Participant], *, tallies: bool = True) -> int:
    """Recompute and store the rows of ``participants``, CHUNK at a time; how many."""
    ids = list(participants.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = Participant.objects.filter(pk__in=ids[start : start + CHUNK]).order_by("pk")
        _store([state_of(p) for p in with_protocol_versions(participants_with_screening(chunk))], tallies=tallies)
    return len(ids)


def states_fill() -> int:
    """Store every participant's row without the tallies (migration 0007, before the tallies' table exists)."""
    return _refresh(Participant.objects.all(), tallies=False)


def screening_state_refresh(participant_id: int) -> ScreeningState:
    """Recompute and store one participant's row. Call inside the transaction of the write that changed its inputs
    (the services do), after that write."""
    participant = participants_with_screening(Participant.objects.filter(pk=participant_id)).get()
    state = state_of(participant)
    _store([state])
    return state


def refresh_all() -> int:
    """Recompute every participant's row in bulk (CHUNK participants per query) and count the tallies again; returns
    how many. For data written around the services (the benchmark generator's bulk inserts) and after a restore."""
    count = _refresh(Participant.objects.all(), tallies=False)
    tallies_rebuild()
    return count


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


# The randomisation's move in one statement: the participant's row locked and set to "randomised" (a withdrawal
# still wins), the participant moved from its old tally to the new one. Table names are the models' own; the values
# are parameters.
RANDOMISED_MOVE = """
WITH old AS (
    SELECT s.participant_id, s.site_id, s.status, s.decision, s.failure_codes
    FROM "screening_screeningstate" s
    JOIN "randomization_allocation" a ON a.participant_id = s.participant_id
    WHERE a.id = %(allocation)s AND s.status NOT IN (%(randomised)s, %(withdrawn)s)
    FOR UPDATE OF s
), moved AS (
    UPDATE "screening_screeningstate" s SET status = %(randomised)s FROM old
    WHERE s.participant_id = old.participant_id
    RETURNING old.site_id, old.status, old.decision, old.failure_codes
)
INSERT INTO "screening_screeningtally" (site_id, status, decision, failure_codes, participants)
SELECT site_id, status, decision, failure_codes, -1 FROM moved
UNION ALL SELECT site_id, %(randomised)s, decision, failure_codes, 1 FROM moved
ORDER BY 1, 2, 3, 4
ON CONFLICT (site_id, status, decision, failure_codes)
DO UPDATE SET participants = "screening_screeningtally".participants + excluded.participants
"""


def after_randomisation(*, allocation_id: int, **_: Any) -> None:
    """``randomised``: the participant's status becomes "randomised" (on PostgreSQL one statement,
    ``RANDOMISED_MOVE``). A participant without a stored row (written around the services), or on SQLite, has it
    decided afresh."""
    params = {
        "allocation": allocation_id,
        "randomised": ScreeningStatus.RANDOMISED,
        "withdrawn": ScreeningStatus.WITHDRAWN,
    }
    participants = Participant.objects.filter(allocation__pk=allocation_id)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(RANDOMISED_MOVE, params)
            if cursor.rowcount:
                return
        participants = participants.filter(screening_state__isnull=True)
    participant_id = participants.values_list("pk", flat=True).first()  # SQLite (the demo): decided afresh
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
    if _tallies() != _tallies_from_states():
        finding.problems.append("the screening tallies differ from the stored states")
        if repair:
            tallies_rebuild()
            finding.repaired.append("the screening tallies counted again")
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
