"""Reminder pages: the site's reminder log, a participant's reminders with "send now", the delivery backends
(administrators), and the inbound SMS webhook of the gateway (STOP replies, delivery reports)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reminders import selectors, services, webhook
from reminders.forms import ReminderFilterForm, SendNowForm
from reminders.models import Reminder
from reminders.sms import outbox_messages
from screening.models import Participant
from trial_site.forms import add_validation_error
from trial_site.models import AccessEvent
from trial_site.permissions import permission_required, user_can
from trial_site.proxies import client_address
from trial_site.scoping import get_scoped_object_or_404
from trial_site.services import access_event_record
from trial_site.submission import once_per_submission

logger = logging.getLogger("trial_site.security")
PAGE_SIZE = 50


@permission_required(selectors.VIEW_REMINDERS)
def reminder_log(request: HttpRequest) -> HttpResponse:
    filters = ReminderFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    reminders = selectors.reminder_log(request.user, status=chosen.get("status", ""), channel=chosen.get("channel", ""))
    page = Paginator(reminders, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reminders/index.html",
        {
            "page": page,
            "filters": filters,
            "query": urlencode({key: value for key, value in chosen.items() if value}),
            "counts": selectors.status_counts(request.user),
            "Status": Reminder.Status,
        },
    )


def _participant_page(
    request: HttpRequest, participant: Participant, *, status: int = 200, **extra: object
) -> HttpResponse:
    return render(
        request,
        "reminders/participant.html",
        {
            "participant": participant,
            "reminders": selectors.participant_reminders(participant),
            "can_send_now": user_can(request.user, "reminders.send_now", participant.site),
            "can_change_choices": user_can(request.user, "screening.change_participant", participant.site),
            "send_now_form": SendNowForm(),
            **extra,
        },
        status=status,
    )


@permission_required("reminders.view_reminder")
def participant_reminders(request: HttpRequest, number: str) -> HttpResponse:
    participant = get_scoped_object_or_404(Participant.objects.select_related("site"), request, screening_number=number)
    return _participant_page(request, participant)


@permission_required("reminders.send_now")
@require_POST
@once_per_submission
def send_now(request: HttpRequest, pk: int) -> HttpResponse:
    reminder = get_scoped_object_or_404(Reminder.objects.select_related("participant__site", "site"), request, pk=pk)
    form = SendNowForm(request.POST)
    if form.is_valid():
        try:
            services.reminder_send_now(reminder=reminder, by=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request, _("The reminder goes out at the next sweep (quiet hours and the daily limit still apply).")
            )
            return redirect("reminders:participant", number=reminder.participant.screening_number)
    return _participant_page(request, reminder.participant, send_now_form=form, failed_send_now=reminder.pk, status=400)


def _mask_phone(phone: str) -> str:
    return f"…{phone[-3:]}" if len(phone) > 3 else "…"


@permission_required("reminders.view_delivery_status")
def delivery_status(request: HttpRequest) -> HttpResponse:
    outbox = []
    if settings.SMS_BACKEND == "file":
        outbox = [
            {**message, "to": _mask_phone(message.get("to", ""))}
            for message in outbox_messages(settings.SMS_OUTBOX_PATH, 50)
        ]
    return render(
        request,
        "reminders/delivery.html",
        {
            "backends": selectors.delivery_backends(),
            "backlog": selectors.reminder_backlog(stuck_after=timedelta(minutes=settings.REMINDER_STUCK_MINUTES)),
            "sms_backend": settings.SMS_BACKEND,
            "email_backend": settings.EMAIL_BACKEND.rsplit(".", 1)[-1],
            "outbox": outbox,
            "outbox_path": settings.SMS_OUTBOX_PATH,
        },
    )


@csrf_exempt  # called by the SMS gateway, not a browser: authenticated by its signature instead
@require_POST
def inbound_sms(request: HttpRequest) -> HttpResponse:
    """The SMS gateway's webhook: ``{"from": …, "text": …}`` (a reply; STOP opts out of SMS) or
    ``{"message_id": …, "status": …}`` (a delivery report), signed as ``reminders.webhook`` describes.

    Refused calls (signature, timestamp, replay) are 403 and counted per client address and minute; the first of
    a minute and the one that crosses ``SMS_WEBHOOK_REFUSALS_PER_MINUTE`` are logged, and over that limit every
    call from the address is 429 until the minute ends. A signed call with a malformed body is a 400."""
    address = client_address(request) or "unknown"
    if webhook.refusals_this_minute(address) >= settings.SMS_WEBHOOK_REFUSALS_PER_MINUTE:
        return _webhook_refused(request, address, "too many refused calls from this address: wait a minute")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > settings.SMS_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": f"the body is larger than {settings.SMS_WEBHOOK_MAX_BYTES} bytes"}, status=400)
    body = request.body
    signature = request.headers.get(webhook.SIGNATURE_HEADER, "")
    problem = webhook.signature_problem(
        secret=settings.SMS_WEBHOOK_SECRET,
        timestamp=request.headers.get(webhook.TIMESTAMP_HEADER, ""),
        signature=signature,
        body=body,
        now=time.time(),
        max_age=settings.SMS_WEBHOOK_MAX_AGE_SECONDS,
    )
    if not problem and not webhook.signature_first_seen(signature):
        problem = "this signed call was received before (a replay)"
    if problem:
        return _webhook_refused(request, address, problem)
    try:
        payload = webhook.parse_body(body)
    except webhook.BadBody as error:
        return JsonResponse({"error": str(error)}, status=400)
    message_id, status = payload.get("message_id"), payload.get("status")
    if isinstance(message_id, str) and isinstance(status, str) and 0 < len(message_id) <= 100:
        updated = services.delivery_report_record(message_id=message_id, status=status)
        return JsonResponse({"updated": updated})
    sender, text = payload.get("from"), payload.get("text")
    if isinstance(sender, str) and isinstance(text, str) and len(sender) <= 40 and len(text) <= 2000:
        if not services.is_stop_request(text):
            return JsonResponse({"opted_out": 0, "note": "not a STOP reply"})
        try:
            changed = services.sms_stop_record(phone=sender)
        except ValidationError as error:  # the casebook is locked: no more SMS all the same
            cancelled = services.sms_stop_when_locked(phone=sender)
            return JsonResponse({"opted_out": 0, "sms_cancelled": cancelled, "note": " ".join(error.messages)})
        return JsonResponse({"opted_out": len(changed)})
    return JsonResponse(
        {"error": 'expected {"from", "text"} (up to 40 and 2000 characters) or {"message_id", "status"}'}, status=400
    )


def _webhook_refused(request: HttpRequest, address: str, problem: str) -> JsonResponse:
    """Count the refusal; log the minute's first and the one over the limit (not every call); 403, or 429 over
    the limit."""
    limit = settings.SMS_WEBHOOK_REFUSALS_PER_MINUTE
    count = webhook.refusal_count(address)
    if count == 1:
        logger.warning("SMS webhook refused from %s: %s", address, problem)
        detail = f"SMS webhook: refused ({problem}); further refusals from {address} this minute are counted only"
        access_event_record(kind=AccessEvent.Kind.ACCESS_DENIED, request=request, detail=detail)
    elif count == limit + 1:
        logger.warning("SMS webhook: %s calls refused from %s this minute; 429 until it ends", count, address)
        detail = f"SMS webhook: over {limit} refused calls from {address} this minute; answered 429 until it ends"
        access_event_record(kind=AccessEvent.Kind.ACCESS_DENIED, request=request, detail=detail)
    if count > limit:
        response = JsonResponse({"error": "too many refused calls from this address: wait a minute"}, status=429)
        response["Retry-After"] = "60"
        return response
    return JsonResponse({"error": problem}, status=403)
