"""Writes of visit reminders: plan them from the schedule, hand due ones to workers, deliver one exactly once,
send one now, and take a participant's STOP.

Exactly once, in short (``docs/reminders.md`` has the whole argument):
- a reminder is a row, unique per visit, visit date, offset and channel while it is not cancelled;
- the sweep claims due rows with one ``UPDATE … RETURNING`` over ``SELECT … FOR UPDATE SKIP LOCKED`` and marks them
  ``sending`` before any task is queued, so two sweeps never hand out the same row; it queues them as messages of
  ``MESSAGE_BATCH`` reminders and claims again until nothing is due;
- delivery locks the participant's row, then the reminder's, re-checks that it is still ``sending`` and still
  wanted, sends, and records the result in the same transaction; a second task for the same reminder waits and
  then finds it ``sent``;
- the provider gets the reminder's id as its idempotency key, so a retry after "accepted but we never heard"
  is not delivered twice.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.reminders import local_day_bounds, next_day_at, quiet_hours_release, reminder_due_times
from reminders.messages import Message, reminder_message
from reminders.models import Channel, DeliveryAttempt, Reminder
from reminders.sms import SmsError, sms_backend
from screening.models import Participant
from screening.models.consent import WithdrawalScope
from screening.models.participant import ReminderChannel
from trial_site.hooks import schedule_changed
from trial_site.mail import message_id_header
from trial_site.permissions import user_can
from trial_site.phone import mobile_e164
from trial_site.protocol import PROTOCOL
from trial_site.queue import enqueue
from trial_site.services import system_user
from visits.models import Visit

logger = logging.getLogger(__name__)

UNSCHEDULED = "UNS"
LIVE = (Reminder.Status.PLANNED, Reminder.Status.SENDING)


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    HELD = "held"  # quiet hours or the daily cap: planned again for later
    FAILED = "failed"  # a permanent error: not retried
    SKIPPED = "skipped"  # no longer sending (sent, cancelled or re-planned meanwhile)


class TransientDeliveryError(Exception):
    """The backend may succeed later (gateway down, timeout, SMTP trouble): retry with backoff."""


@dataclass(frozen=True)
class PlanResult:
    created: int
    cancelled: int


# --- Planning -------------------------------------------------------------------------------------------------


def _channels(participant: Participant) -> tuple[str, ...]:
    """The channels the participant chose, if they agreed to reminders at all."""
    if not participant.reminder_consent:
        return ()
    return {
        ReminderChannel.SMS: (Channel.SMS,),
        ReminderChannel.EMAIL: (Channel.EMAIL,) if participant.email else (),
        ReminderChannel.BOTH: (Channel.SMS, Channel.EMAIL) if participant.email else (Channel.SMS,),
    }.get(participant.reminder_channel, ())


def _stops_all_reminders(participant: Participant) -> str:
    """Why the participant gets no reminders any more (withdrawal of follow-up, end of study), or ''."""
    withdrawal = getattr(participant, "withdrawal", None)
    if withdrawal is not None and withdrawal.scope in {WithdrawalScope.FOLLOW_UP, WithdrawalScope.DATA}:
        return _("consent withdrawn")
    if getattr(participant, "end_of_study", None) is not None:
        return _("end of study")
    return ""


def _visit_no_longer_due(visit: Visit | None, visit_date: Any) -> str:
    if visit is None:
        return _("visit removed")
    if visit.done_on is not None:
        return _("visit done")
    if visit.missed:
        return _("visit missed")
    if visit.cancelled:
        return _("visit no longer due")
    if visit.planned_date != visit_date:
        return _("visit rescheduled")
    return ""


def _cancel(reminder: Reminder, reason: str, now: datetime) -> None:
    reminder.status = Reminder.Status.CANCELLED
    reminder.cancelled_at = now
    reminder.cancel_reason = reason[:200]
    reminder.save(update_fields=["status", "cancelled_at", "cancel_reason"])


@transaction.atomic(savepoint=False)  # a follow-up: inside its caller's transaction, all or nothing with it
def reminders_plan(*, participant_id: int, now: datetime | None = None) -> PlanResult:
    """Make the participant's reminders match the schedule and their choices: plan the missing ones, cancel the
    pending ones no longer wanted (visit done, missed, moved or no longer due; withdrawal, end of study,
    opt-out). Sent and failed reminders stay as they are. Idempotent; a ``schedule_changed`` follow-up
    (``settings.FOLLOW_UPS``)."""
    now = now or timezone.now()
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("site", "withdrawal", "end_of_study")
        .get(pk=participant_id)
    )
    zone = ZoneInfo(participant.site.time_zone)
    stopped = _stops_all_reminders(participant)
    channels = () if stopped else _channels(participant)
    visits = {visit.pk: visit for visit in participant.visits.exclude(code=UNSCHEDULED)}
    wanted: dict[tuple[int, Any, int, str], datetime] = {}
    for visit in visits.values():
        if visit.done_on is not None or visit.missed or visit.cancelled:
            continue
        for offset, due in reminder_due_times(visit.planned_date, PROTOCOL.reminders, zone, now).items():
            for channel in channels:
                wanted[(visit.pk, visit.planned_date, offset, channel)] = due

    cancelled = 0
    existing = set()
    for reminder in (
        Reminder.objects.select_for_update().filter(participant=participant).exclude(status=Reminder.Status.CANCELLED)
    ):
        key = (reminder.visit_id, reminder.visit_date, reminder.offset_days, reminder.channel)
        existing.add(key)
        if reminder.status in LIVE and key not in wanted:
            reason = (
                stopped
                or _visit_no_longer_due(visits.get(reminder.visit_id), reminder.visit_date)
                or _("reminder choice changed")
            )
            _cancel(reminder, reason, now)
            cancelled += 1
    missing = [
        Reminder(
            site=participant.site,
            participant=participant,
            visit_id=visit_id,
            visit_date=visit_date,
            offset_days=offset,
            channel=channel,
            due_at=due,
        )
        for (visit_id, visit_date, offset, channel), due in sorted(wanted.items(), key=lambda item: item[1])
        if (visit_id, visit_date, offset, channel) not in existing
    ]
    Reminder.objects.bulk_create(missing)  # bookkeeping rows, not clinical data: one insert for all
    created = len(missing)
    if created or cancelled:
        logger.info("reminders of %s: %s planned, %s cancelled", participant, created, cancelled)
    return PlanResult(created=created, cancelled=cancelled)


# --- Dispatch -------------------------------------------------------------------------------------------------


# One claim takes up to CLAIM_BATCH due reminders; they go to the broker as messages of MESSAGE_BATCH reminders each
# (one ``send_reminders`` task per message), so handing out a backlog is a few publishes, not one per reminder.
CLAIM_BATCH = 1000
MESSAGE_BATCH = 100


def reminders_sweep(*, now: datetime | None = None, batch: int = CLAIM_BATCH) -> list[int]:
    """Hand every due reminder (and those stuck in "sending" since a worker died) to the workers: claim up to
    ``batch`` at a time (``UPDATE … RETURNING`` with ``FOR UPDATE SKIP LOCKED``: rows another sweep holds are
    skipped, not waited for), mark them sending, and after each claim's commit queue them as ``send_reminders``
    messages of ``MESSAGE_BATCH``; again until nothing is due, so one beat run hands out a whole backlog. Returns
    the ids claimed, in due order. When the broker cannot be reached, the claim's reminders are planned again and
    the sweep stops: the next one tries again."""
    now = now or timezone.now()
    claimed: list[int] = []
    handed_off = {"failed": False}
    while True:
        with transaction.atomic():
            ids = _claim(now=now, batch=batch)
            transaction.on_commit(lambda ids=ids: handed_off.update(failed=not _queue_deliveries(ids)))
        claimed += ids
        # Fewer than a batch: nothing more is due. Inside a caller's transaction the hand-off waits for its commit
        # and a second claim finds only what this one left (nothing due): the loop ends.
        if len(ids) < batch or handed_off["failed"]:
            return claimed


def _due(now: datetime) -> Q:
    stuck_since = now - timedelta(minutes=settings.REMINDER_STUCK_MINUTES)
    return Q(status=Reminder.Status.PLANNED, due_at__lte=now) | Q(
        status=Reminder.Status.SENDING, claimed_at__lt=stuck_since
    )


def claim_sql(*, now: datetime, batch: int) -> tuple[str, list[Any]]:
    """The claim as one statement: the first ``batch`` due reminders (skipping rows another transaction holds)
    marked sending, their ids and due times returned."""
    from django.db import connection

    candidates = Reminder.objects.filter(_due(now)).order_by("due_at", "pk").values("pk")[:batch]
    select, params = candidates.query.sql_with_params()
    if connection.features.has_select_for_update_skip_locked:
        select += " FOR UPDATE SKIP LOCKED"
    table = connection.ops.quote_name(Reminder._meta.db_table)
    sql = (
        f"UPDATE {table} SET status = %s, claimed_at = %s WHERE id IN ({select}) "  # noqa: S608 (our own SQL)
        "RETURNING id, due_at"
    )
    return sql, [Reminder.Status.SENDING, now, *params]


def _claim(*, now: datetime, batch: int) -> list[int]:
    from django.db import connection

    sql, params = claim_sql(now=now, batch=batch)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [pk for pk, _due_at in sorted(rows, key=lambda row: (row[1], row[0]))]


def _queue_deliveries(reminder_ids: list[int]) -> bool:
    """Queue the claimed reminders as ``send_reminders`` messages of ``MESSAGE_BATCH``; True if all were queued.
    The reminders of a message the broker did not take are planned again, for the next sweep."""
    from reminders.tasks import send_reminders

    not_queued: list[int] = []
    for start in range(0, len(reminder_ids), MESSAGE_BATCH):
        chunk = reminder_ids[start : start + MESSAGE_BATCH]
        if not_queued or not enqueue(send_reminders, chunk):  # the broker is down: do not try every message
            not_queued += chunk
    if not_queued:  # give them back, the next sweep tries again
        Reminder.objects.filter(pk__in=not_queued, status=Reminder.Status.SENDING).update(
            status=Reminder.Status.PLANNED, claimed_at=None
        )
        logger.warning("%s reminders not queued (broker down); planned again", len(not_queued))
    return not not_queued


def _still_wanted(reminder: Reminder, participant: Participant) -> str:
    """'' if the reminder should still go out; otherwise why not (checked again just before sending)."""
    return (
        _stops_all_reminders(participant)
        or _visit_no_longer_due(reminder.visit, reminder.visit_date)
        or ("" if reminder.channel in _channels(participant) else _("reminder choice changed"))
    )


def _hold_until(reminder: Reminder, participant: Participant, now: datetime) -> datetime | None:
    """When the message may go if it may not go now: quiet hours, then the daily cap per channel."""
    policy = PROTOCOL.reminders
    zone = ZoneInfo(participant.site.time_zone)
    release = quiet_hours_release(now, policy, zone)
    if release is not None:
        return release
    start, end = local_day_bounds(now.astimezone(zone).date(), zone)
    sent_today = Reminder.objects.filter(
        participant=participant, channel=reminder.channel, status=Reminder.Status.SENT,
        sent_at__gte=start, sent_at__lt=end,
    ).count()  # fmt: skip
    if sent_today >= policy.daily_cap:
        return next_day_at(now, policy.send_at, zone)
    return None


@dataclass(frozen=True)
class _Sent:
    backend: str
    message_id: str
    status: str


class _SendFailed(Exception):
    def __init__(self, backend: str, error: str, *, transient: bool) -> None:
        super().__init__(error)
        self.backend = backend
        self.transient = transient


def _send(reminder: Reminder, participant: Participant, message: Message) -> _Sent:
    """Hand the message to the channel's backend; _SendFailed says whether a retry may help."""
    if reminder.channel == Channel.SMS:
        backend = sms_backend()
        try:
            receipt = backend.send(
                to=participant.mobile_phone, text=message.body, idempotency_key=reminder.idempotency_key
            )
        except SmsError as error:
            raise _SendFailed(f"sms-{backend.name}", str(error), transient=error.transient) from error
        return _Sent(f"sms-{backend.name}", receipt.message_id, receipt.status)
    message_id = message_id_header(reminder.idempotency_key)
    email = EmailMessage(message.subject, message.body, to=[participant.email], headers={"Message-ID": message_id})
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as error:
        raise _SendFailed(
            "email", f"the mail server refused the address: {error.recipients}", transient=False
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        raise _SendFailed("email", f"{type(error).__name__}: {error}", transient=True) from error
    return _Sent("email", message_id, "accepted")


def reminder_deliver(*, reminder_id: int, now: datetime | None = None) -> DeliveryOutcome:
    """Deliver one claimed reminder, at most once. Locks the participant (one message at a time per person, so
    the daily cap holds) and the reminder, re-checks everything, sends and records the result in one
    transaction. Raises ``TransientDeliveryError`` for the task to retry (the row stays "sending")."""
    participant_id = Reminder.objects.filter(pk=reminder_id).values_list("participant_id", flat=True).first()
    if participant_id is None:
        return DeliveryOutcome.SKIPPED
    transient_error = ""
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update(of=("self",))
            .select_related("site", "withdrawal", "end_of_study")
            .get(pk=participant_id)
        )
        reminder = Reminder.objects.select_for_update(of=("self",)).select_related("visit").get(pk=reminder_id)
        now = now or timezone.now()
        if reminder.status != Reminder.Status.SENDING:
            return DeliveryOutcome.SKIPPED
        unwanted = _still_wanted(reminder, participant)
        if unwanted:
            _cancel(reminder, unwanted, now)
            return DeliveryOutcome.SKIPPED
        hold = _hold_until(reminder, participant, now)
        if hold is not None:
            reminder.status, reminder.due_at, reminder.claimed_at = Reminder.Status.PLANNED, hold, None
            reminder.save(update_fields=["status", "due_at", "claimed_at"])
            return DeliveryOutcome.HELD
        message = reminder_message(
            channel=reminder.channel, language=participant.preferred_language,
            visit_date=reminder.visit_date, site=participant.site,
        )  # fmt: skip
        reminder.attempts += 1
        reminder.language = participant.preferred_language
        try:
            sent = _send(reminder, participant, message)
        except _SendFailed as failure:
            DeliveryAttempt.objects.create(
                reminder=reminder, backend=failure.backend, succeeded=False, error=str(failure)
            )
            reminder.last_error = str(failure)
            if failure.transient:
                reminder.claimed_at = timezone.now()  # alive: not "stuck" while the task retries
                reminder.save(update_fields=["attempts", "language", "last_error", "claimed_at"])
                transient_error = str(failure)
            else:
                reminder.status, reminder.failed_at = Reminder.Status.FAILED, timezone.now()
                reminder.save(update_fields=["attempts", "language", "last_error", "status", "failed_at"])
                logger.error("reminder %s failed: %s", reminder_id, failure)
                return DeliveryOutcome.FAILED
        else:
            DeliveryAttempt.objects.create(
                reminder=reminder, backend=sent.backend, succeeded=True, provider_message_id=sent.message_id
            )
            reminder.status, reminder.sent_at = Reminder.Status.SENT, timezone.now()
            reminder.provider_message_id, reminder.provider_status = sent.message_id, sent.status
            reminder.message_text = "\n\n".join(part for part in (message.subject, message.body) if part)
            reminder.last_error = ""
            reminder.save()
            return DeliveryOutcome.SENT
    raise TransientDeliveryError(transient_error)


@transaction.atomic
def reminder_fail(*, reminder_id: int, error: str) -> Reminder:
    """After the last retry: the reminder failed, with the error, for the staff to see and send again."""
    reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
    if reminder.status == Reminder.Status.SENDING:
        reminder.status, reminder.failed_at, reminder.last_error = Reminder.Status.FAILED, timezone.now(), error
        reminder.save(update_fields=["status", "failed_at", "last_error"])
        logger.error("reminder %s failed after its retries: %s", reminder_id, error)
    return reminder


@transaction.atomic
def reminder_send_now(*, reminder: Reminder, by: Any, reason: str) -> Reminder:
    """Send a planned or failed reminder at the next sweep instead of its due time (quiet hours and the daily cap
    still hold). The reason and the user are kept with it."""
    if not user_can(by, "reminders.send_now", reminder.site):
        raise PermissionDenied(f"{by} lacks reminders.send_now")
    if not reason.strip():
        raise ValidationError({"reason": _("Say why this reminder is sent now.")})
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.status not in {Reminder.Status.PLANNED, Reminder.Status.FAILED}:
        raise ValidationError(
            {"reason": _("This reminder is %(status)s: only a planned or failed one can be sent now.")
             % {"status": reminder.get_status_display()}}
        )  # fmt: skip
    now = timezone.now()
    reminder.status, reminder.due_at, reminder.failed_at = Reminder.Status.PLANNED, now, None
    reminder.send_now_by, reminder.send_now_at, reminder.send_now_reason = by, now, reason.strip()[:300]
    reminder.save()
    from reminders.tasks import sweep

    transaction.on_commit(lambda: enqueue(sweep))
    return reminder


# --- Inbound SMS ----------------------------------------------------------------------------------------------

STOP_WORDS = frozenset({"STOP", "STOP ALL", "UNSUBSCRIBE", "বন্ধ", "বন্ধ করুন"})


def _mobile_or_none(phone: str) -> str | None:
    """The sender's number in E.164, or None when it cannot be a mobile number (nobody to opt out)."""
    try:
        return mobile_e164(phone)
    except ValidationError:
        return None


def is_stop_request(text: str) -> bool:
    return " ".join(text.strip().upper().split()) in STOP_WORDS


@transaction.atomic
def sms_stop_record(*, phone: str) -> list[Participant]:
    """A STOP reply from ``phone``: no more SMS to any participant with that number (e-mail stays if chosen).
    The change is the participant's, audited with the reason; pending SMS reminders are cancelled."""
    number = _mobile_or_none(phone)
    if number is None:
        return []
    changed = []
    for participant in Participant.objects.select_for_update().filter(
        mobile_phone=number, reminder_channel__in=[ReminderChannel.SMS, ReminderChannel.BOTH]
    ):
        participant.reminder_channel = (
            ReminderChannel.EMAIL if participant.reminder_channel == ReminderChannel.BOTH else ReminderChannel.NONE
        )
        participant.save(by=system_user(), reason=_("STOP reply by SMS"))
        schedule_changed(participant.pk)
        changed.append(participant)
    logger.info("STOP by SMS: %s participants opted out of SMS", len(changed))
    return changed


@transaction.atomic
def sms_stop_when_locked(*, phone: str) -> int:
    """A STOP reply for a participant whose data are locked (their choice cannot be changed): their pending SMS
    reminders are cancelled all the same, so no SMS goes to someone who asked for none. Returns how many."""
    number = _mobile_or_none(phone)
    if number is None:
        return 0
    cancelled = 0
    now = timezone.now()
    for reminder in Reminder.objects.select_for_update().filter(
        participant__mobile_phone=number, channel=Channel.SMS, status__in=LIVE
    ):
        _cancel(reminder, _("STOP reply by SMS (the casebook is locked)"), now)
        cancelled += 1
    logger.warning("STOP by SMS for locked data: %s pending SMS reminders cancelled", cancelled)
    return cancelled


def delivery_report_record(*, message_id: str, status: str) -> int:
    """A delivery report from the SMS gateway: the provider's status of the message, stored on the reminder."""
    return Reminder.objects.filter(provider_message_id=message_id).update(provider_status=status[:40])
