"""The visits waiting for an investigator's signature (the home page's "visits to sign")."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from monitoring.models import Signature
from trial_site.scoping import scope_to_user_sites
from visits.models import Visit

SIGN_DATA = "monitoring.sign_data"


def visits_to_sign(user: Any) -> QuerySet[Visit]:
    """Visits done that no visit signature in force covers, at the sites where the user may sign; the earliest
    done first."""
    signed = Signature.objects.filter(invalidated_at__isnull=True, scope=Signature.Scope.VISIT, visit_id=OuterRef("pk"))
    return (
        scope_to_user_sites(Visit.objects.filter(done_on__isnull=False), user, permission=SIGN_DATA)
        .filter(~Exists(signed))
        .select_related("participant", "site")
        .order_by("done_on", "participant__screening_number", "sequence")
    )
