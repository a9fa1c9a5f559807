"""Reminder pages: the site's reminder log, a participant's reminders with "send now", the delivery backends
(administrators), and the inbound SMS webhook of the gateway (STOP replies, delivery reports)."""

from __future__ import annotations

import hmac
import json
import logging
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

from reminders import selectors, services
from reminders.forms import ReminderFilterForm, SendNowForm
from reminders.models import Reminder
from reminders.sms import outbox_messages
from screening.models import Participant
from trial_site.models import AccessEvent
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.services import access_event_record
from trial_site.submission import once_per_submission

logger = logging.getLogger("trial_site.security")
PAGE_SIZE = 50


@permission_required("reminders.view_reminder")
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
            form.add_error("reason", error.message_dict.get("reason", error.messages))
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


@csrf_exempt  # called by the SMS gateway, not a browser: authenticated by the shared secret instead
@require_POST
def inbound_sms(request: HttpRequest) -> HttpResponse:
    """The SMS gateway's webhook: ``{"from": …, "text": …}`` (a reply; STOP opts out of SMS) or
    ``{"message_id": …, "status": …}`` (a delivery report). The header X-Webhook-Secret must match."""
    secret = settings.SMS_WEBHOOK_SECRET
    given = request.headers.get("X-Webhook-Secret", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        logger.warning("SMS webhook refused: wrong or missing secret from %s", request.META.get("REMOTE_ADDR"))
        access_event_record(kind=AccessEvent.Kind.ACCESS_DENIED, request=request, detail="SMS webhook: wrong secret")
        return JsonResponse({"error": "wrong or missing X-Webhook-Secret"}, status=403)
    try:
        payload = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "the body must be a JSON object"}, status=400)
    if isinstance(payload.get("message_id"), str) and isinstance(payload.get("status"), str):
        updated = services.delivery_report_record(message_id=payload["message_id"], status=payload["status"])
        return JsonResponse({"updated": updated})
    if isinstance(payload.get("from"), str) and isinstance(payload.get("text"), str):
        if not services.is_stop_request(payload["text"]):
            return JsonResponse({"opted_out": 0, "note": "not a STOP reply"})
        try:
            changed = services.sms_stop_record(phone=payload["from"])
        except ValidationError as error:  # the casebook is locked: no more SMS all the same
            cancelled = services.sms_stop_when_locked(phone=payload["from"])
            return JsonResponse({"opted_out": 0, "sms_cancelled": cancelled, "note": " ".join(error.messages)})
        return JsonResponse({"opted_out": len(changed)})
    return JsonResponse({"error": 'expected {"from", "text"} or {"message_id", "status"}'}, status=400)
