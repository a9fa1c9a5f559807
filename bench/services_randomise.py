"""Services benchmark, scenario 3: 100 randomisations at once over HTTP, against the same 100 one after another.

The data are made through the services, as the tests make them (``tests/randomization/factories.py``): an
allocation list generated and put in use by the statistician, then participants registered with consent,
screened with the five forms (some with a longer disease duration, for the "late" strata), and confirmed
eligible by the site's investigator; half at each of the trial's two sites. That is done once, in a database the
parent copies (``CREATE DATABASE … TEMPLATE``) for every run, so each run randomises the same participants from
the same state.

A run starts gunicorn (``trial_site.wsgi``, **4 sync workers**, production settings with DEBUG off) on that copy and
randomises every participant the way the site's investigator does: a ``POST`` of the confirmation page
(``/randomization/participants/<number>/randomise/``, ``confirmed=yes``, with the session and CSRF cookies of the
investigator, logged in beforehand). The view calls ``randomization.services.participant_randomize``: the site's row
lock, the next free slot of the stratum, the allocation, the visit schedule with its required forms, reminders and
history rows (``trial_site.audit.bulk``), and the investigators' e-mail as an outbox row, in one transaction.

- **concurrent**: 100 client threads, one request each, all released at once by a barrier; gunicorn's 4 workers
  take them as they can (the rest wait in its listen queue).
- **sequential** (the baseline): the same requests one after another from one client thread.

The time is from the first request sent to the last answer. Then the run checks what a trial manager would: every
request answered with the redirect to the participant's page, every participant has exactly one allocation, no slot
is used twice, each stratum used its first slots in sequence with the arms the list says, the randomisation
numbers of each site are consecutive without a gap or a double, each allocation has its one creation history row
and its visit schedule.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent

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


WORKERS = 4


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_gunicorn(port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn on this process's database and broker, production settings (DEBUG off, two-factor off)."""
    from django.conf import settings
    from django.db import connection

    database = connection.settings_dict  # this process's database (a test database in the tests)
    login = quote(database["USER"] or "", safe="") + (
        ":" + quote(database["PASSWORD"], safe="") if database["PASSWORD"] else ""
    )
    host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://{login}@{host}/{database['NAME']}",
        "DJANGO_SETTINGS_MODULE": "trial_site.settings.base",
        "DEBUG": "false",
        "TWO_FACTOR_REQUIRED": "false",
        "SECRET_KEY": str(settings.SECRET_KEY),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "trial_site.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(WORKERS),
        "--backlog", "256",
        "--timeout", "120",
        "--no-control-socket",
    ]  # fmt: skip
    # The pages' static files (the manifest the production storage reads), as bench/load.py prepares them.
    collect = [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"]
    subprocess.run(collect, cwd=ROOT, env=environment, check=True)
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)


def _wait_until_up(port: int, server: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/accounts/login/")
            if connection.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)  # graceful: the workers finish their request
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _requests(participant_ids: list[int]) -> list[tuple[str, dict[str, str]]]:
    """For each participant: the randomisation page's address and the headers of its investigator's POST (the
    investigator's session, logged in beforehand by Django's test client in the session store the server reads,
    and a CSRF token)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from screening.models import Participant
    from trial_site.models import Site

    users = get_user_model().objects
    cookies = {}
    for site in Site.objects.all():
        client = Client()
        client.force_login(users.get(username=f"gen-{site.code.lower()}-investigator"))
        token = secrets.token_hex(16)  # 32 characters: a CSRF secret, the same in the cookie and the header
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookies[site.pk] = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={token}",
            "X-CSRFToken": token,
            "Content-Type": "application/x-www-form-urlencoded",
        }
    participants = (
        Participant.objects.filter(pk__in=participant_ids).order_by("pk").values_list("screening_number", "site_id")
    )
    return [(f"/randomization/participants/{number}/randomise/", cookies[site_id]) for number, site_id in participants]


def _post(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", path, body="confirmed=yes", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def randomise_all(participant_ids: list[int], *, concurrent: bool, log: Path) -> dict[str, Any]:
    """Randomise the participants over HTTP against gunicorn (all at once, or one after another); the time and the
    answers that were not the redirect to the participant's page."""
    from django.db import connection

    requests = _requests(participant_ids)
    connection.close()  # the server's workers are the only ones writing
    port = _free_port()
    server = _start_gunicorn(port, log)
    errors: list[str] = []
    try:
        _wait_until_up(port, server, log)

        def send(path: str, headers: dict[str, str]) -> None:
            try:
                status = _post(port, path, headers)
            except OSError as error:
                errors.append(f"{path}: {type(error).__name__}: {error}")
                return
            if status != 302:
                errors.append(f"{path}: HTTP {status}")

        if not concurrent:
            started = time.perf_counter()
            for path, headers in requests:
                send(path, headers)
            seconds = time.perf_counter() - started
        else:
            released: list[float] = []
            barrier = threading.Barrier(len(requests), action=lambda: released.append(time.perf_counter()))

            def run(path: str, headers: dict[str, str]) -> None:
                barrier.wait()
                send(path, headers)

            threads = [threading.Thread(target=run, args=request) for request in requests]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - released[0]
    finally:
        _stop(server)
    return {"seconds": seconds, "errors": errors, "clients": len(requests) if concurrent else 1, "workers": WORKERS}


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


def randomise_run(participant_ids: list[int], list_id: int, *, concurrent: bool, log: str) -> dict[str, Any]:
    """One run over HTTP, timed and checked."""
    run = randomise_all(participant_ids, concurrent=concurrent, log=Path(log))
    run["problems"] = randomise_check(participant_ids, list_id, run["errors"])
    run["errors"] = run["errors"][:3]
    run["randomised"] = len(participant_ids)
    return run
