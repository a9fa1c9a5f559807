"""Panels and field flags that other apps hang on a clinical record's page (queries, verification, signatures,
locks), through the settings RECORD_PANELS and RECORD_FIELD_FLAGS, so the clinical apps import none of them."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.html import format_html_join
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def record_panels(context: Any, record: Any) -> SafeString:
    """The panels of every app listed in RECORD_PANELS for this saved record (nothing for an unsaved one)."""
    if record is None or getattr(record, "pk", None) is None:
        return mark_safe("")
    request = context.get("request")
    parts = [import_string(path)(request, record) for path in getattr(settings, "RECORD_PANELS", ())]
    return format_html_join("", "{}", ((part,) for part in parts if part))


@register.simple_tag(takes_context=True)
def field_flags(context: Any, record: Any, field_name: str) -> SafeString:
    """Small flags next to one field of a saved record (an open query on it, say)."""
    if record is None or getattr(record, "pk", None) is None:
        return mark_safe("")
    request = context.get("request")
    parts = [import_string(path)(request, record, field_name) for path in getattr(settings, "RECORD_FIELD_FLAGS", ())]
    return format_html_join("", "{}", ((part,) for part in parts if part))
