"""Irreversible steps (randomise, confirm eligibility) are taken from a confirmation page that states what will
happen. Its form posts ``confirmed=yes`` (``{% include "trial_site/_confirmed_field.html" %}``) to the action
view, which refuses a POST without it (400, the confirmation page again with a message; nothing saved).
Unblinding, signing and locking confirm by what their page asks for (reason, password)."""

from __future__ import annotations

from django.http import HttpRequest

FIELD = "confirmed"
VALUE = "yes"


def is_confirmed(request: HttpRequest) -> bool:
    """Whether the POST came from the confirmation page's form."""
    return request.POST.get(FIELD) == VALUE
