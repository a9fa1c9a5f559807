"""The transactional outbox (``trial_site.outbox``), with e-mails sent over SMTP to a real loopback server: a message
is written in the write's transaction and leaves only once it commits; a failed send is retried with backoff, then
marked failed; two deliveries of one message at the same instant send it once; a message whose hand-off to the
worker was lost (the broker down) is delivered by the sweep; one key, one message. The mail server hears goodbye
only after the message is recorded as delivered, and a copy sent again carries the same Message-ID."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from randomization.models import Allocation
from randomization.services import participant_randomize
from tests.concurrency.threads import run_together
from tests.faults.support import WriteHold, log_records, wait_for
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.reminders.test_redis_down import broker_at
from trial_site.models import OutboxMessage
from trial_site.outbox import deliver, outbox_add, outbox_send_mail, outbox_sweep

NOTE = "tests.trial_site.test_outbox.send_note"
DESK = "safety-desk@example.org"

pytestmark = pytest.mark.django_db(transaction=True)


def send_note(subject: str) -> int:
    """A test-only outbox handler: one e-mail to the safety desk."""
    return outbox_send_mail(subject, f"{subject}\n", [DESK])


@pytest.fixture
def outbox(settings: Any, smtp_inbox: Any) -> Any:
    """The test's handler allowed in the outbox; e-mail to the loopback SMTP server (its inbox returned)."""
    settings.OUTBOX_HANDLERS = (*settings.OUTBOX_HANDLERS, NOTE)
    return smtp_inbox


def subjects(inbox: Any) -> list[str]:
    return sorted(str(message["Subject"]) for message in inbox.messages)


def stored(message: OutboxMessage) -> OutboxMessage:
    return OutboxMessage.objects.get(pk=message.pk)


class Refused(Exception):
    """The write the message belonged to failed."""


def test_a_message_of_a_rolled_back_write_is_never_delivered(outbox: Any) -> None:
    with pytest.raises(Refused), transaction.atomic():
        outbox_add(NOTE, "never sent", key="rolled-back")
        raise Refused

    assert outbox_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert not OutboxMessage.objects.exists()
    assert outbox.messages == []


def test_a_randomisation_rolled_back_sends_no_e_mail(
    outbox: Any, site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician, slots_per_stratum=4)
    participant = confirmed_participant(site, coordinator, investigator)

    with pytest.raises(Refused), transaction.atomic():
        participant_randomize(participant=participant, by=investigator)
        assert OutboxMessage.objects.filter(handler="randomization.tasks.email_randomisation").count() == 1
        raise Refused  # whatever failed after it in the same transaction

    outbox_sweep(now=timezone.now() + timedelta(days=1))
    assert not Allocation.objects.exists() and not OutboxMessage.objects.exists()
    assert outbox.messages == []


def test_a_message_is_delivered_once_its_write_commits_and_not_before(outbox: Any) -> None:
    with transaction.atomic():
        message = outbox_add(NOTE, "after commit", key="after-commit")
        assert outbox.messages == []  # the write is not committed yet: nothing has left
    assert subjects(outbox) == ["after commit"]
    message = stored(message)
    assert (message.status, message.attempts, message.last_error) == ("delivered", 1, "")
    assert message.delivered_at is not None
    assert outbox_sweep(now=timezone.now() + timedelta(days=1)) == 0  # nothing left to deliver
    assert deliver(message.pk) == "not pending"
    assert subjects(outbox) == ["after commit"]


def test_the_mail_server_hears_goodbye_only_after_the_message_is_recorded_as_delivered(outbox: Any) -> None:
    """The moment between "the mail server has the e-mail" and "the row says delivered" (where a worker killed
    leaves a sent message pending, to be sent again) does not include the goodbye to the mail server."""
    delivered_at_goodbye: list[list[str]] = []

    def delivered_now() -> list[str]:  # read by another connection: what is committed
        try:
            return sorted(OutboxMessage.objects.filter(status="delivered").values_list("key", flat=True))
        finally:
            connection.close()

    async def handle_QUIT(server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        delivered_at_goodbye.append(await asyncio.to_thread(delivered_now))
        return "221 Bye"

    outbox.handle_QUIT = handle_QUIT
    outbox_add(NOTE, "goodbye", key="goodbye")
    assert subjects(outbox) == ["goodbye"]
    assert delivered_at_goodbye == [["goodbye"]]


def test_a_message_sent_again_after_a_crash_carries_the_same_message_id(outbox: Any, settings: Any) -> None:
    """A worker killed after the mail server took the e-mail and before the row was recorded as delivered leaves
    the row pending, and the sweep sends it again (SMTP cannot promise once). The copy carries the first one's
    Message-ID, by which the recipient's mail client shows it once; another message has another."""
    twice = outbox_add(NOTE, "sent twice", key="twice")
    OutboxMessage.objects.filter(pk=twice.pk).update(status="pending", delivered_at=None)  # the record lost
    assert outbox_sweep(now=timezone.now() + timedelta(days=1)) == 1
    outbox_add(NOTE, "another", key="another")

    sent = sorted((str(message["Subject"]), str(message["Message-ID"])) for message in outbox.messages)
    assert [subject for subject, _ in sent] == ["another", "sent twice", "sent twice"]
    assert sent[1][1] == sent[2][1] != sent[0][1]
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2]
    assert all(message_id.endswith(f"@{domain}>") for _, message_id in sent)


def test_a_failed_send_is_retried_with_backoff_and_then_marked_failed(outbox: Any, settings: Any) -> None:
    settings.OUTBOX_MAX_ATTEMPTS, settings.OUTBOX_RETRY_BASE_SECONDS = 3, 30
    working_port, settings.EMAIL_PORT = settings.EMAIL_PORT, closed_port()  # the mail server is down

    attempted = timezone.now()
    with log_records("trial_site.outbox") as logged:
        message = outbox_add(NOTE, "mail server down", key="down")  # autocommit: handed over at once, fails
        message = stored(message)
        assert (message.status, message.attempts) == ("pending", 1)
        assert "Connection refused" in message.last_error or "ConnectionRefusedError" in message.last_error
        assert attempted + timedelta(seconds=30) <= message.due_at <= timezone.now() + timedelta(seconds=30)
        assert outbox_sweep(now=message.due_at - timedelta(seconds=1)) == 0  # not due again yet: not retried

        attempted = timezone.now()
        assert outbox_sweep(now=message.due_at) == 1  # the second attempt, also refused: the wait doubles
        message = stored(message)
        assert (message.status, message.attempts) == ("pending", 2)
        assert attempted + timedelta(seconds=60) <= message.due_at <= timezone.now() + timedelta(seconds=60)

        assert outbox_sweep(now=message.due_at) == 1  # the third and last attempt
        message = stored(message)
        assert (message.status, message.attempts) == ("failed", 3)
        assert [record.levelname for record in logged] == ["WARNING", "WARNING", "ERROR"]
        assert "failed for good" in logged[-1].getMessage()

    settings.EMAIL_PORT = working_port  # the mail server is back: a failed message is not sent by the sweep
    assert outbox_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert outbox.messages == []


def test_a_failed_send_is_delivered_once_by_a_later_retry(outbox: Any, settings: Any) -> None:
    working_port, settings.EMAIL_PORT = settings.EMAIL_PORT, closed_port()
    message = outbox_add(NOTE, "retried", key="retried")
    assert stored(message).status == "pending"

    settings.EMAIL_PORT = working_port
    outbox_sweep(now=stored(message).due_at)
    outbox_sweep(now=stored(message).due_at + timedelta(days=1))

    assert subjects(outbox) == ["retried"]
    assert (stored(message).status, stored(message).attempts) == ("delivered", 2)


def lost_hand_off(subject: str) -> OutboxMessage:
    """A message whose write committed and whose hand-off to the worker was lost (the broker unreachable)."""
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), log_records("trial_site.queue", 40) as logged:
        message = outbox_add(NOTE, subject, key=subject)
    assert [record.getMessage().split(" not queued")[0] for record in logged] == [
        f"task trial_site.tasks.outbox_deliver({message.pk},)"
    ]
    return stored(message)


@pytest.mark.needs_postgres
def test_two_deliveries_of_one_message_at_the_same_instant_send_it_once(outbox: Any) -> None:
    messages = [lost_hand_off(f"race {n}") for n in range(5)]
    assert {m.status for m in messages} == {"pending"} and outbox.messages == []

    for message in messages:
        results, errors = run_together([lambda pk=message.pk: deliver(pk)] * 4)
        assert errors == [] and sorted(results) == ["delivered", "not pending", "not pending", "not pending"]

    assert subjects(outbox) == sorted(f"race {n}" for n in range(5))


@pytest.mark.needs_postgres
def test_a_delivery_while_another_is_sending_skips_the_message(outbox: Any) -> None:
    """The first delivery has sent the e-mail and is about to record it (held inside its transaction, the row
    locked); the worker and the sweep deliver the same message meanwhile: they skip it, nothing is sent twice."""
    message = lost_hand_off("held")
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["first"] = deliver(message.pk)
        finally:
            connection.close()

    with WriteHold("trial_site_outboxmessage", timing="BEFORE UPDATE") as hold:
        with hold.closed():
            sending = threading.Thread(target=first)
            sending.start()
            wait_for(hold.waiting_backend, "the first delivery recording its send")
            assert subjects(outbox) == ["held"]
            results, errors = run_together([lambda: deliver(message.pk), lambda: deliver(message.pk)])
            assert errors == [] and results == ["not pending", "not pending"]
            assert outbox_sweep(now=timezone.now() + timedelta(days=1)) == 1  # handed over, and skipped
        sending.join(60)

    assert outcome["first"] == "delivered"
    assert stored(message).status == "delivered"
    assert subjects(outbox) == ["held"]


def test_the_sweep_delivers_a_message_whose_hand_off_was_lost(outbox: Any) -> None:
    message = lost_hand_off("broker was down")
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):  # still down: the sweep cannot hand it over either
        assert outbox_sweep() == 1
    assert stored(message).status == "pending" and outbox.messages == []

    assert outbox_sweep() == 1  # the broker is back (here: tasks run at once)
    assert stored(message).status == "delivered"
    assert outbox_sweep() == 0
    assert subjects(outbox) == ["broker was down"]


def test_a_key_already_used_writes_no_second_message(outbox: Any) -> None:
    first = outbox_add(NOTE, "once", key="sae-report:1")
    with transaction.atomic():
        assert outbox_add(NOTE, "once", key="sae-report:1") is None
        assert outbox_add(NOTE, "twice?", key="sae-report:1") is None  # the key decides, not the arguments
    with transaction.atomic():
        again = outbox_add(NOTE, "in one transaction", key="sae-report:2")
        assert outbox_add(NOTE, "in one transaction", key="sae-report:2") is None
        assert again is not None  # the transaction goes on after the refused duplicate

    assert OutboxMessage.objects.filter(key="sae-report:1").get().pk == first.pk
    assert OutboxMessage.objects.count() == 2
    assert subjects(outbox) == ["in one transaction", "once"]


@pytest.mark.needs_postgres
def test_one_key_written_by_two_transactions_at_once_is_one_message(outbox: Any) -> None:
    def write() -> bool:
        with transaction.atomic():
            return outbox_add(NOTE, "at once", key="at-once") is not None

    for _ in range(3):
        results, errors = run_together([write] * 4)
        assert errors == [] and results.count(True) <= 1
    assert OutboxMessage.objects.filter(key="at-once").count() == 1
    assert subjects(outbox) == ["at once"]


def test_only_a_listed_handler_may_be_written(outbox: Any) -> None:
    with pytest.raises(ValueError, match="not an outbox handler"):
        outbox_add("django.core.mail.send_mail", "x", "y", None, [DESK])
    assert not OutboxMessage.objects.exists()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
