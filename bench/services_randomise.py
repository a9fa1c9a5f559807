"""Services benchmark, scenario 3: 100 randomisations at once, against the same 100 one after another.

The data are made through the services, as the tests make them (``tests/randomization/factories.py``): an
allocation list generated and put in use by the statistician, then participants registered with consent,
screened with the five forms (some with a longer disease duration, for the "late" strata), and confirmed
eligible by the site's investigator; half at each of the trial's two sites. That is done once, in a database the
parent copies (``CREATE DATABASE … TEMPLATE``) for every run, so each run randomises the same participants from
the same state.

A run randomises them all with ``randomization.services.participant_randomize``, the service the page calls:
the site's row lock, the next free slot of the stratum, the allocation with its history row, then after commit
the visit schedule (and its reminders) and the investigators' e-mail queued on the broker.

- **concurrent**: one thread per participant, all released at once by a barrier. PostgreSQL here allows 100
  connections in all (shared with everything else on the server), so the threads share ``connections`` of
  them: a thread takes a connection slot, randomises, and closes its connection (the application's default,
  ``DB_CONN_MAX_AGE=0``: a fresh connection per request).
- **sequential** (the baseline): the same participants, one after another in one thread, with a fresh
  connection each time too.

Then the run checks what a trial manager would: every participant has exactly one allocation, no slot is used
twice, each stratum used its first slots in sequence with the arms the list says, the randomisation numbers of
each site are consecutive without a gap or a double, each allocation has its one creation history row and its
visit schedule, and no call raised.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

LATE_DURATION_DAYS = 900  # disease duration > 18 months: the "late" stratum
EARLY_DURATION_DAYS = 400


def randomise_prepare(participants: int = 100, *, slots_per_stratum: int | None = None) -> dict[str, Any]:
    """In the current database: an allocation list in use and ``participants`` confirmed-eligible participants,
    spread over the sites (three in five early, two in five late). Needs the generator's staff (``gen-…``)."""
    from django.contrib.auth import get_user_model

    from tests.randomization.factories import confirmed_participant, list_in_use
    from trial_site.models import Site

    users = get_user_model().objects
    sites = list(Site.objects.order_by("code"))
    statistician = users.get(username="gen-statistician")
    staff = {
        site.pk: (
            users.get(username=f"gen-{site.code.lower()}-coordinator"),
            users.get(username=f"gen-{site.code.lower()}-investigator"),
        )
        for site in sites
    }
    allocation_list = list_in_use(
        statistician, slots_per_stratum=slots_per_stratum or participants, seed=2024, name="services benchmark list"
    )
    made = []
    for index in range(participants):
        site = sites[index % len(sites)]
        coordinator, investigator = staff[site.pk]
        duration = EARLY_DURATION_DAYS if index % 5 < 3 else LATE_DURATION_DAYS
        made.append(confirmed_participant(site, coordinator, investigator, duration_days=duration).pk)
    return {"list": allocation_list.pk, "participants": made}


def _investigators() -> dict[int, Any]:
    from django.contrib.auth import get_user_model

    from trial_site.models import Site

    users = get_user_model().objects
    return {site.pk: users.get(username=f"gen-{site.code.lower()}-investigator") for site in Site.objects.all()}


def _randomise_one(participant: Any, by: Any) -> Any:
    from django.db import connection

    from randomization.services import participant_randomize

    try:
        return participant_randomize(participant=participant, by=by)
    finally:
        connection.close()  # a fresh connection per randomisation, as a request with DB_CONN_MAX_AGE=0


def randomise_all(participant_ids: list[int], *, concurrent: bool, connections: int = 30) -> dict[str, Any]:
    """Randomise the participants (all at once, or one after another); the time and the errors raised."""
    from django.db import connection

    from screening.models import Participant

    investigators = _investigators()
    participants = list(Participant.objects.filter(pk__in=participant_ids).order_by("pk"))
    connection.close()
    errors: list[str] = []
    if not concurrent:
        started = time.perf_counter()
        for participant in participants:
            try:
                _randomise_one(participant, investigators[participant.site_id])
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
        return {"seconds": time.perf_counter() - started, "errors": errors, "threads": 1, "connections": 1}

    released: list[float] = []
    barrier = threading.Barrier(len(participants), action=lambda: released.append(time.perf_counter()))
    slots = threading.BoundedSemaphore(connections)
    lock = threading.Lock()

    def run(participant: Any) -> None:
        barrier.wait()
        try:
            with slots:
                _randomise_one(participant, investigators[participant.site_id])
        except Exception as error:
            with lock:
                errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=run, args=(participant,)) for participant in participants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - released[0]
    return {"seconds": seconds, "errors": errors, "threads": len(threads), "connections": connections}


def randomise_check(participant_ids: list[int], list_id: int, errors: list[str]) -> list[str]:
    """What is wrong after the run (empty when all is right)."""
    from randomization.models import Allocation, AllocationSlot
    from randomization.strata import stratum_for
    from screening.models import Participant
    from visits.models import Visit

    problems = [f"{len(errors)} randomisations raised, e.g. {errors[0]}"] if errors else []
    allocations = list(
        Allocation.objects.filter(participant_id__in=participant_ids).select_related("slot", "site").order_by("pk")
    )
    by_participant = defaultdict(list)
    for allocation in allocations:
        by_participant[allocation.participant_id].append(allocation)
    not_once = [pk for pk in participant_ids if len(by_participant[pk]) != 1]
    if not_once:
        problems.append(f"{len(not_once)} participants without exactly one allocation")
    if len({a.slot_id for a in allocations}) != len(allocations):
        problems.append("a slot was used twice")
    if any(a.slot.allocation_list_id != list_id for a in allocations):
        problems.append("an allocation took a slot of another list")
    if any(a.arm != a.slot.arm or a.stratum != a.slot.stratum for a in allocations):
        problems.append("an allocation's arm or stratum differs from its slot's")
    participants = Participant.objects.select_related("site", "disease_history").in_bulk(participant_ids)
    for allocation in allocations:
        participant = participants[allocation.participant_id]
        expected = stratum_for(
            site_code=participant.site.code,
            first_non_raynaud_date=participant.disease_history.first_non_raynaud_date,
            screening_date=participant.screening_date,
        )
        if allocation.stratum != expected:
            problems.append(f"{participant} randomised in stratum {allocation.stratum}, not {expected}")
    for stratum in sorted({a.stratum for a in allocations}):
        used = sorted(a.slot.sequence for a in allocations if a.stratum == stratum)
        free_before = AllocationSlot.objects.filter(
            allocation_list_id=list_id, stratum=stratum, allocation__isnull=True, sequence__lt=max(used)
        ).count()
        if used != list(range(1, len(used) + 1)) or free_before:
            problems.append(f"stratum {stratum}: slots {used[:5]}… are not its first {len(used)} in sequence")
    for site_code in sorted({a.site.code for a in allocations}):
        numbers = [int(a.randomisation_number.rsplit("-", 1)[1]) for a in allocations if a.site.code == site_code]
        total = Allocation.objects.filter(site__code=site_code).count()
        if sorted(numbers) != list(range(total - len(numbers) + 1, total + 1)):
            problems.append(f"site {site_code}: randomisation numbers are not consecutive")
    history = Allocation.history.model.objects.filter(participant_id__in=participant_ids)
    created_rows = history.filter(history_type="+").count()
    if created_rows != len(allocations) or history.exclude(history_type="+").exists():
        problems.append(f"{created_rows} creation history rows for {len(allocations)} allocations")
    without_schedule = Participant.objects.filter(pk__in=participant_ids).exclude(
        pk__in=Visit.objects.filter(participant_id__in=participant_ids).values("participant_id")
    )
    if without_schedule.exists():
        problems.append(f"{without_schedule.count()} randomised participants without a visit schedule")
    return problems


def randomise_run(participant_ids: list[int], list_id: int, *, concurrent: bool, connections: int) -> dict[str, Any]:
    """One run, timed and checked."""
    run = randomise_all(participant_ids, concurrent=concurrent, connections=connections)
    run["problems"] = randomise_check(participant_ids, list_id, run["errors"])
    run["errors"] = run["errors"][:3]
    run["randomised"] = len(participant_ids)
    return run
