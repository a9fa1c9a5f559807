"""Idempotent submission of pages that create something (Stripe's idempotency keys, for forms).

The page carries a one-time key made when it is shown (``{% submission_key %}``, in ``record_tags``). The view,
wrapped in ``once_per_submission``, runs in one transaction that first stores the key: a second POST with the same
key waits on the key's unique index until the first commits, and is then taken to what the first created, with a
message; it creates nothing. A first POST that creates nothing (the form comes back with errors) leaves no key, so
the corrected form can be sent again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from trial_site.models import SubmissionKey

FIELD = "submission_key"
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
            try:
                with transaction.atomic():
                    stored = SubmissionKey.objects.create(key=key, user=request.user, path=request.path[:300])
            except IntegrityError:
                return _repeat(request, key)
            response = view(request, *args, **kwargs)
            if isinstance(response, HttpResponseRedirect):
                stored.result_url = response["Location"][:500]
                stored.save(update_fields=["result_url"])
            else:  # nothing was created: the key may be used again for the corrected form
                stored.delete()
            return response

    return wrapped


def _repeat(request: HttpRequest, key: uuid.UUID) -> HttpResponse:
    """A POST whose key was used: go where the first one went (it has committed: its insert held ours)."""
    first = SubmissionKey.objects.filter(key=key).first()
    if first is None or first.user_id != request.user.pk or not first.result_url:
        logger.warning("submission key %s reused by %s on %s", key, request.user, request.path)
        return render(request, "409.html", {"reason": _("This form was sent already.")}, status=409)
    logger.info("repeat of submission %s by %s on %s: no second record", key, request.user, request.path)
    messages.info(request, _("This form had been sent already: nothing was saved twice. Here is what it saved."))
    return HttpResponseRedirect(first.result_url)
