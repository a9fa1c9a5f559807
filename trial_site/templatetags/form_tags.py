"""Template tags of every form that writes: the one-time submission key of a form that creates something, and
the panel that shows an edit conflict (who changed what since the form was opened, beside the user's entries)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from trial_site.submission import FIELD, new_key

register = template.Library()


@register.simple_tag
def submission_key() -> str:
    """A hidden field with a new one-time key: put it inside every form that creates something."""
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_key())


@register.inclusion_tag("trial_site/edit_conflict.html")
def edit_conflict(form: Any) -> dict[str, Any]:
    """The conflict panel of a form that came back from ``form_after_conflict`` (nothing otherwise)."""
    return {"conflict": getattr(form, "conflict", None), "form": form}
