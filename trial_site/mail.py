"""Small helpers for the e-mails the system sends."""

from __future__ import annotations

from django.conf import settings


def message_id_header(local: str) -> str:
    """A ``Message-ID`` of our own, ``<local@domain>`` with the domain of ``DEFAULT_FROM_EMAIL``: the same for every
    copy of one e-mail, so a copy sent again after a failure can be recognised as the same message."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return f"<{local}@{domain}>"
