"""Writing and delivering outbox rows (``OutboxMessage``).

``outbox_add`` is called inside the write's transaction; once it commits, the row is handed to the worker
(``deliver`` through Celery, or at once where tasks run eagerly). Whatever was not delivered (a process killed
between commit and hand-off, a broker outage, a failed send) is picked up by ``outbox_sweep`` (beat, every minute)
and retried with backoff. Delivery locks the row (``SKIP LOCKED``), so two workers never send one row twice.

E-mail handlers send with ``outbox_send_mail``. During a delivery it uses one mail connection that is closed (the
SMTP ``QUIT``) only after the row is committed as delivered, so the moment between "the mail server has the message"
and "the row says delivered" is one ``UPDATE`` and its commit, not a round trip to the mail server as well. A worker
killed in that moment leaves the row pending and the sweep sends the message again: SMTP cannot promise once. The
copy sent again carries the same ``Message-ID`` (one per row and e-mail), by which mail clients drop a duplicate.
"""

from __future__ import annotations

import logging
import smtplib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection, send_mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from trial_site.mail import message_id_header
from trial_site.models import OutboxMessage

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


@dataclass
class _Delivery:
    """The message being delivered in this thread, its mail connection and the e-mails sent on it so far."""

    message_id: int
    mail: BaseEmailBackend
    sent: int = 0


_delivering: ContextVar[_Delivery | None] = ContextVar("outbox_delivery", default=None)


def outbox_add(handler: str, *arguments: Any, key: str | None = None) -> OutboxMessage | None:
    """Write a message for ``handler(*arguments)`` in the current transaction; hand it to the worker after commit.

    ``handler`` must be listed in ``settings.OUTBOX_HANDLERS``. With ``key``, a message already written under the
    same key is not written again (None is returned).
    """
    if handler not in settings.OUTBOX_HANDLERS:
        raise ValueError(f"{handler} is not an outbox handler (settings.OUTBOX_HANDLERS)")
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                handler=handler, arguments=list(arguments), key=key, due_at=timezone.now()
            )
    except IntegrityError:
        if key is not None and OutboxMessage.objects.filter(key=key).exists():
            return None
        raise
    transaction.on_commit(lambda: _hand_over(message.pk))
    return message


def _hand_over(message_id: int) -> None:
    from trial_site.queue import enqueue
    from trial_site.tasks import outbox_deliver

    enqueue(outbox_deliver, message_id)  # a broker outage is logged; the sweep delivers it later


def outbox_send_mail(subject: str, body: str, recipients: list[str]) -> int:
    """Send one e-mail from an outbox handler (from ``DEFAULT_FROM_EMAIL``); the number sent (0 or 1).

    During a delivery: on the delivery's mail connection, closed after the commit, and with a ``Message-ID`` made
    of the row and the e-mail's place among the handler's e-mails, the same on every attempt. Outside one (a
    handler called directly), as ``send_mail``."""
    delivery = _delivering.get()
    if delivery is None:
        return send_mail(subject, body, None, recipients)
    delivery.sent += 1
    headers = {"Message-ID": message_id_header(f"outbox-{delivery.message_id}.{delivery.sent}")}
    delivery.mail.open()  # an open connection is left open by send_messages
    return EmailMessage(subject, body, to=recipients, connection=delivery.mail, headers=headers).send()


def _say_goodbye(mail: BaseEmailBackend) -> None:
    """Close the delivery's mail connection (``QUIT``); the message is delivered already, a failure changes nothing."""
    try:
        mail.close()
    except (smtplib.SMTPException, OSError) as error:
        logger.info("closing the mail connection after a delivery: %s", error)


def deliver(message_id: int) -> str:
    """Deliver one message if it is still pending and no one else is delivering it; record the outcome."""
    delivery = _Delivery(message_id, get_connection())
    token = _delivering.set(delivery)
    try:
        return _deliver(message_id)
    finally:  # after the commit of the outcome
        _delivering.reset(token)
        _say_goodbye(delivery.mail)


def _deliver(message_id: int) -> str:
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=OutboxMessage.Status.PENDING)
            .first()
        )
        if message is None:
            return "not pending"
        message.attempts += 1
        try:
            with transaction.atomic():
                import_string(message.handler)(*message.arguments)
        except Exception as error:
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                message.status = OutboxMessage.Status.FAILED
                logger.error("outbox message %s failed for good: %s", message, message.last_error)
            else:
                delay = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** (message.attempts - 1)
                message.due_at = timezone.now() + timedelta(seconds=delay)
                logger.warning("outbox message %s failed (attempt %s): %s", message, message.attempts, error)
            message.save()
            return message.status
        message.status = OutboxMessage.Status.DELIVERED
        message.delivered_at = timezone.now()
        message.save()
        return message.status


def outbox_sweep(*, now: Any = None) -> int:
    """Hand every due pending message to the worker again; return how many."""
    now = now or timezone.now()
    due = list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for message_id in due:
        _hand_over(message_id)
    return len(due)


def outbox_retry_failed() -> list[int]:
    """Give every message that failed for good its retries again, due now, and hand it to the worker (someone
    fixed what made it fail: the mail server's address, say); the ids. ``check_invariants --retry-failed``."""
    with transaction.atomic():
        failed = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxMessage.Status.FAILED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        OutboxMessage.objects.filter(pk__in=failed).update(
            status=OutboxMessage.Status.PENDING, attempts=0, due_at=timezone.now()
        )
        for message_id in failed:
            transaction.on_commit(lambda message_id=message_id: _hand_over(message_id))
    if failed:
        logger.warning("outbox messages %s given their retries again", failed)
    return failed
