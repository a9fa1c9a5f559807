from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.simple_tag
def time_left(delta: timedelta) -> str:
    """ "5 h 20 min left" or "overdue by 3 h 10 min"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    text = f"{minutes // 60} h {minutes % 60} min"
    return (
        _("%(time)s left") % {"time": text} if delta.total_seconds() >= 0 else _("overdue by %(time)s") % {"time": text}
    )
