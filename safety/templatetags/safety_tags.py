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


@register.simple_tag
def safety_attention(user: object) -> dict[str, int]:
    """What needs the clinical team's attention now: open laboratory alerts and SAE reports not yet sent (and how
    many of them are overdue, counted in the same query)."""
    from django.db.models import Count, Q
    from django.utils import timezone

    from safety.models import LabAlert, SaeReport
    from safety.selectors import SEE_REPORTS, alert_site_ids
    from trial_site.permissions import user_can
    from trial_site.scoping import scope_to_user_sites

    if not user_can(user, "safety.view_labalert"):
        return {}
    # Each count at the sites where the user holds the permission there (a role counts at its own site only).
    reports = scope_to_user_sites(SaeReport.objects.filter(submitted_at__isnull=True), user, permission=SEE_REPORTS)
    sae = reports.aggregate(reports=Count("pk"), overdue=Count("pk", filter=Q(deadline__lt=timezone.now())))
    return {
        "alerts": LabAlert.objects.filter(acknowledged_at__isnull=True, site_id__in=alert_site_ids(user)).count(),
        "reports": sae["reports"],
        "overdue": sae["overdue"],
    }
