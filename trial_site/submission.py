"""Idempotent submission of pages that create something (Stripe's idempotency keys, for forms).

The page carries a one-time key made when it is shown (``{% submission_key %}``, in ``form_tags``). The view,
wrapped in ``once_per_submission``, runs in one transaction that first takes a lock on the key: a second POST with
the same key waits there until the first commits, and is then taken to what the first created, with a message; it
creates nothing. The key is stored, with where the first went, in the transaction of what it created; a POST that
creates nothing (refused, or the form comes back with errors) stores nothing, so the corrected form can be sent
again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from trial_site.models import SubmissionKey

FIELD = "submission_key"
ADVISORY_KEY_MASK = (1 << 63) - 1  # a UUID folded into PostgreSQL's signed 64-bit advisory-lock key
logger = logging.getLogger(__name__)


def new_key() -> str:
    return str(uuid.uuid4())


def _key_of(request: HttpRequest) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get(FIELD, ""))
    except ValueError:
        return None


def once_per_submission(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Make a creating view's POST idempotent by its submission key (a POST without one is served as before)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _key_of(request) if request.method == "POST" and request.user.is_authenticated else None
        if key is None:
            return view(request, *args, **kwargs)
        with transaction.atomic():
            _wait_for_the_same_key(key)
            if SubmissionKey.objects.filter(key=key).exists():
                return _repeat(request, key)
            response = view(request, *args, **kwargs)
            if not isinstance(response, HttpResponseRedirect):
                return response  # nothing was created: the key stays free for the corrected form
            try:
                with transaction.atomic():
                    SubmissionKey.objects.create(
                        key=key, user=request.user, path=request.path[:300], result_url=response["Location"][:500]
                    )
            except IntegrityError:  # only where the lock below is not available (SQLite, the demo)
                transaction.set_rollback(True)
                return _repeat(request, key)
            return response

    return wrapped


def _wait_for_the_same_key(key: uuid.UUID) -> None:
    """Hold a transaction-scoped lock on ``key`` (PostgreSQL advisory lock): a second request with the same key
    waits here until the first commits or rolls back, then finds its key row, or none. Nothing is written, so a
    request refused later (no permission, invalid form) leaves no trace. SQLite serialises writers by itself;
    the key's unique index is the backstop there."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key.int & ADVISORY_KEY_MASK])


def _repeat(request: HttpRequest, key: uuid.UUID) -> HttpResponse:
    """A POST whose key was used: go where the first one went (it has committed: we waited for it)."""
    first = SubmissionKey.objects.filter(key=key).first()
    if first is None or first.user_id != request.user.pk or not first.result_url:
        logger.warning("submission key %s reused by %s on %s", key, request.user, request.path)
        return render(request, "409.html", {"reason": _("This form was sent already.")}, status=409)
    logger.info("repeat of submission %s by %s on %s: no second record", key, request.user, request.path)
    messages.info(request, _("This form had been sent already: nothing was saved twice. Here is what it saved."))
    return HttpResponseRedirect(first.result_url)
