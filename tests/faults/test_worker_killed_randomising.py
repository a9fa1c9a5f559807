"""Gunicorn workers killed (SIGKILL) in the middle of bursts of randomisations and of laboratory panels: a write is
whole or absent, never half; what must leave afterwards (the investigators' e-mail) leaves once.

Real parts throughout: gunicorn with several sync worker processes on the test database (PostgreSQL), investigators
and coordinators logged in over HTTP posting the pages' own forms, an SMTP server on loopback, and afterwards a real
Celery worker and beat (the outbox sweep).

Where the kills land. Each burst sends one POST per participant at once; while they are in flight the test kills two
workers:

- one inside the write's transaction: a trigger installed for the test holds the transaction at one of its inserts
  (the first visit of the schedule, the first reminder, the outbox row of the e-mail; the panel's history row, its
  assessment, its first alert) until the test has killed the worker serving it. In the code before the write and
  its follow-ups were one transaction, those inserts ran after the commit of the allocation (or of the panel), so a
  kill there left an allocation without its schedule and e-mail, or a panel without its alerts;
- one after the commit, while the worker hands the e-mail to the mail server (the SMTP server holds the recipient
  until the worker is dead), or at a random moment.

Afterwards every participant is either not randomised or randomised with every visit of the protocol, the rows of its
required forms and its reminders; a participant not randomised is randomised by trying again; once the worker and
beat run, every allocation's e-mail is in the mailbox exactly once. Every saved panel has its alerts and its
assessment; a panel lost is entered again. ``check_invariants`` then finds nothing to repair.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from django.db import connection

from randomization.models import Allocation
from randomization.services import participant_randomize
from screening.models import Participant
from tests.faults.support import WriteHold, wait_for
from tests.http.conftest import start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import WAIT_SECONDS, GunicornServer, StaffSession, fire_together, html_form
from tests.processes import worker_database_url
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.trial_site.test_celery import celery_process, service_env
from tests.trial_site.test_invariants import ALERTS, BREAKING, alert_rules, assessed, schedule_problems
from tests.trial_site.test_outbox import closed_port
from trial_site.invariants import invariants_check
from trial_site.models import OutboxMessage
from visits import services as visit_services
from visits.crfs import LabPanel
from visits.models import Visit

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4
PER_BURST = 10
RANDOMISE_FORM = "//form[contains(@action, '/randomise/')]"
# Where a kill inside the transaction lands, burst by burst: the tables whose first insert holds it.
RANDOMISATION_HOLDS = ("visits_visit", "reminders_reminder", "trial_site_outboxmessage")
LAB_PANEL_HOLDS = ("visits_historicallabpanel", "safety_labpanelassessment", "safety_labalert")

Outcome = requests.Response | Exception


# --- a mail server that can keep a worker waiting -------------------------------------------------------------


class HoldingInbox:
    """An SMTP server's handler (aiosmtpd) that keeps the messages it receives and, when asked, holds the next
    sender at its recipient (before the message is sent) until released."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()
        self._hold_next = False
        self._held_peer: tuple[str, int] | None = None
        self._released = threading.Event()

    def hold_next(self) -> None:
        self._released.clear()
        with self._lock:
            self._hold_next = True

    def held_port(self) -> int | None:
        """The client port of the connection held now, if one is."""
        with self._lock:
            return self._held_peer[1] if self._held_peer else None

    def release(self) -> None:
        with self._lock:
            self._hold_next = False
        self._released.set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self._lock:
            hold, self._hold_next = self._hold_next, False
            if hold:
                self._held_peer = session.peer
        while hold and not self._released.is_set():
            await asyncio.sleep(0.02)
        with self._lock:
            if hold:
                self._held_peer = None
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(message["Subject"]) for message in self.messages]


@pytest.fixture
def mail_server() -> Iterator[tuple[HoldingInbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = HoldingInbox(), closed_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        inbox.release()
        controller.stop()


# --- finding the worker to kill --------------------------------------------------------------------------------


def worker_with_local_port(server: GunicornServer, port: int) -> int | None:
    """The gunicorn worker that owns the TCP connection whose local end is ``port``."""
    for pid in server.worker_pids():
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.laddr and c.laddr.port == port for c in connections):
            return pid
    return None


def worker_held_by(server: GunicornServer, hold: WriteHold) -> int | None:
    """The worker whose transaction waits at the hold's trigger (its database connection's client port)."""
    backend = hold.waiting_backend()
    if backend is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_port FROM pg_stat_activity WHERE pid = %s", [backend])
        row = cursor.fetchone()
    return worker_with_local_port(server, row[0]) if row and row[0] else None


def kill_held(server: GunicornServer, hold: WriteHold, table: str) -> int:
    """Kill the worker whose transaction waits at the (closed) hold, then open it for the others."""
    try:
        victim = wait_for(lambda: worker_held_by(server, hold), f"a request held at its insert into {table}")
        server.kill_worker(victim)
    finally:
        hold.open()
    return victim


def kill_while_sending_mail(server: GunicornServer, inbox: HoldingInbox) -> int:
    """Hold the next worker that hands an e-mail to the mail server (its write committed) and kill it."""
    inbox.hold_next()
    try:
        victim = wait_for(
            lambda: (port := inbox.held_port()) and worker_with_local_port(server, port),
            "a worker handing an e-mail to the mail server",
        )
        server.kill_worker(victim)
    finally:
        inbox.release()
    return victim


def kill_at_random(server: GunicornServer, rng: random.Random) -> int:
    """Kill a worker at a random moment of the burst."""
    time.sleep(rng.uniform(0.0, 1.5))
    victim = rng.choice(server.worker_pids())
    server.kill_worker(victim)
    return victim


def burst(
    server: GunicornServer, jobs: list[Callable[[], requests.Response]], *kills: Callable[[], int], hold_at: str = ""
) -> tuple[list[Outcome], list[int]]:
    """Send the requests at once and, while they are in flight, make the kills in order. With ``hold_at`` (a
    table), the first kill is of the worker whose transaction is held at its insert into that table."""
    with ExitStack() as stack:
        if hold_at:
            hold = stack.enter_context(WriteHold(hold_at))
            hold.close()  # before the requests leave: the first to insert waits there, inside its transaction
            kills = (lambda: kill_held(server, hold, hold_at), *kills)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(fire_together, jobs)
            try:
                killed = [kill() for kill in kills]
            finally:
                if hold_at:
                    hold.open()
                outcomes = pending.result(WAIT_SECONDS * 3)
    return outcomes, killed


def statuses(outcomes: list[Outcome]) -> Counter[str]:
    return Counter(str(o.status_code) if isinstance(o, requests.Response) else type(o).__name__ for o in outcomes)


def answered_well(outcomes: list[Outcome], expected: int) -> list[str]:
    """The answers that are neither ``expected`` nor a connection lost with a killed worker (never a 500)."""
    return [
        f"{o.status_code} {o.url}" if isinstance(o, requests.Response) else repr(o)
        for o in outcomes
        if not (isinstance(o, requests.Response) and o.status_code == expected)
        and not isinstance(o, requests.ConnectionError)
    ]


# --- randomisation ---------------------------------------------------------------------------------------------


def randomise_job(session: StaffSession, participant: Participant) -> Callable[[], requests.Response]:
    """The POST of the participant's Randomise button, as the page opened now carries it (a tab of its own)."""
    tab = session.twin()
    page = tab.get(f"/randomization/participants/{participant.screening_number}/randomise/")  # the confirmation
    assert page.status_code == 200, page.status_code
    form = html_form(page.text, RANDOMISE_FORM)
    return lambda: tab.post(form.action, form.fields)


def whole_or_absent(participants: list[Participant]) -> dict[str, list[str]]:
    """Each participant randomised with a schedule that lacks something, and what it lacks."""
    return {
        p.screening_number: problems
        for p in participants
        if Allocation.objects.filter(participant=p).exists() and (problems := schedule_problems(p))
    }


def e_mails_per_allocation(inbox: HoldingInbox) -> Counter[str]:
    subjects = inbox.subjects()
    return Counter(
        {a.randomisation_number: sum(f" {a.randomisation_number} randomised" in s for s in subjects)
         for a in Allocation.objects.all()}
    )  # fmt: skip


def test_randomisations_with_workers_killed_are_whole_or_absent_and_each_e_mail_goes_once(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    mail_server: tuple[HoldingInbox, int],
    tmp_path: Path,
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
) -> None:
    inbox, smtp_port = mail_server
    rng = random.Random(16)  # noqa: S311 (when to kill, not a secret)
    list_in_use(statistician, slots_per_stratum=60)
    server = start_gunicorn(workers=WORKERS, smtp=("127.0.0.1", smtp_port))
    session = server.login(investigator)
    mail = lambda: kill_while_sending_mail(server, inbox)  # noqa: E731
    at_random = lambda: kill_at_random(server, rng)  # noqa: E731
    bursts: list[tuple[str, tuple[Callable[[], int], ...]]] = [
        # (held inside the transaction at the insert into, then the other kills)
        (RANDOMISATION_HOLDS[0], (mail,)),
        (RANDOMISATION_HOLDS[1], (at_random,)),
        (RANDOMISATION_HOLDS[2], (mail,)),
        ("", (at_random, at_random)),
    ]
    everyone: list[Participant] = []
    answers: list[Outcome] = []
    killed: list[int] = []
    for hold_at, kills in bursts:
        group = [confirmed_participant(site, coordinator, investigator) for _ in range(PER_BURST)]
        everyone += group
        outcomes, victims = burst(server, [randomise_job(session, p) for p in group], *kills, hold_at=hold_at)
        answers += outcomes
        killed += victims
        server.wait_for_workers(without=victims)
        assert whole_or_absent(group) == {}

    assert len(set(killed)) == 2 * len(bursts)
    assert answered_well(answers, 302) == [], statuses(answers)
    assert statuses(answers)["ConnectionError"] >= 5  # at least the requests held, and at the mail server, were lost
    not_randomised = [p for p in everyone if not Allocation.objects.filter(participant=p).exists()]
    assert len(not_randomised) >= 3  # at least those held inside their transaction: rolled back, whole
    pending = OutboxMessage.objects.filter(status="pending").count()
    assert pending >= 2  # at least the two e-mails whose worker died at the mail server: committed, not sent

    # The investigator tries again where the page still offers Randomise: one request each, no kill.
    retried, _ = burst(server, [randomise_job(session, p) for p in not_randomised])
    assert answered_well(retried, 302) == []
    assert Allocation.objects.count() == len(everyone)
    assert whole_or_absent(everyone) == {}

    # The worker and beat come back: the sweep hands every e-mail still pending to the worker, which sends it.
    env = service_env(
        tmp_path / "celery", redis_url=_redis_url(), DATABASE_URL=worker_database_url(), OUTBOX_SWEEP_SECONDS="2",
        EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_port), EMAIL_USE_TLS="false",
    )  # fmt: skip
    (tmp_path / "celery").mkdir()
    with ExitStack() as processes:
        processes.enter_context(celery_process("worker", env, tmp_path / "worker.log"))
        processes.enter_context(celery_process("beat", env, tmp_path / "beat.log"))
        wait_for(
            lambda: not OutboxMessage.objects.exclude(status="delivered").exists(),
            "every outbox message delivered by the worker",
            log=tmp_path / "worker.log",
        )

    per_allocation = e_mails_per_allocation(inbox)
    assert set(per_allocation.values()) == {1}, per_allocation
    assert len(inbox.messages) == Allocation.objects.count() == len(everyone)
    assert OutboxMessage.objects.filter(key__startswith="randomised:").count() == len(everyone)
    assert all(finding.holds and not finding.problems for finding in invariants_check(repair=False))


def _redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


# --- laboratory panels -----------------------------------------------------------------------------------------


def lab_panel_job(session: StaffSession, visit: Visit) -> Callable[[], requests.Response]:
    """The POST of the visit's laboratory form marked complete, as its page opened now carries it, with values that
    break the rules of both arms."""
    tab = session.twin()
    page = tab.get(f"/visits/{visit.pk}/forms/labs/")
    assert page.status_code == 200, page.status_code
    form = html_form(page.text, "//main//form[.//input[@name='hb_g_dl']]", button="1")
    fields = {**form.fields, **{name: str(value) for name, value in BREAKING.items()}}
    fields["unusual_values_confirmed"] = "on"
    return lambda: tab.post(form.action or page.request.path_url, fields)


def half_written_panels(visits: list[Visit]) -> dict[str, str]:
    """Each laboratory panel saved without its alerts or its assessment."""
    found = {}
    for visit in visits:
        panel = LabPanel.objects.filter(visit=visit).select_related("visit__participant__allocation").first()
        if panel is None:
            continue
        arm = panel.visit.participant.allocation.arm
        if alert_rules(panel) != ALERTS[arm] or not assessed(panel):
            found[str(visit.participant)] = f"alerts {sorted(alert_rules(panel))}, assessed {assessed(panel)}"
    return found


def day_1_done(site: Any, coordinator: Any, investigator: Any) -> Visit:
    participant = confirmed_participant(site, coordinator, investigator)
    participant_randomize(participant=participant, by=investigator)
    d1 = Visit.objects.get(participant=participant, code="D1")
    return visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)


def test_laboratory_panels_with_workers_killed_are_saved_with_their_alerts_or_not_at_all(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
) -> None:
    rng = random.Random(1616)  # noqa: S311 (when to kill, not a secret)
    list_in_use(statistician, slots_per_stratum=60)
    server = start_gunicorn(workers=WORKERS)
    session = server.login(coordinator)
    every_visit: list[Visit] = []
    answers: list[Outcome] = []
    killed: list[int] = []
    for table in LAB_PANEL_HOLDS:
        visits = [day_1_done(site, coordinator, investigator) for _ in range(PER_BURST)]
        every_visit += visits
        jobs = [lab_panel_job(session, visit) for visit in visits]
        outcomes, victims = burst(server, jobs, lambda: kill_at_random(server, rng), hold_at=table)
        answers += outcomes
        killed += victims
        server.wait_for_workers(without=victims)
        assert half_written_panels(visits) == {}

    assert len(set(killed)) == 2 * len(LAB_PANEL_HOLDS)
    assert answered_well(answers, 302) == [], statuses(answers)
    lost = [visit for visit in every_visit if not LabPanel.objects.filter(visit=visit).exists()]
    assert len(lost) >= len(LAB_PANEL_HOLDS)  # at least those held inside their transaction: rolled back, whole

    # The coordinator enters the lost panels again: one request each, no kill.
    again, _ = burst(server, [lab_panel_job(session, visit) for visit in lost])
    assert answered_well(again, 302) == []
    assert LabPanel.objects.filter(visit__in=every_visit).count() == len(every_visit)
    assert half_written_panels(every_visit) == {}
    assert all(finding.holds and not finding.problems for finding in invariants_check(repair=False))
