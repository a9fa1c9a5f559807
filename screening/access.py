"""Who may open and who may enter a screening form of a participant: the one rule the form's page enforces and every
link to it follows (no page shows a link its user would be refused)."""

from __future__ import annotations

from typing import Any, NamedTuple

from screening.models import Participant, ScreeningMrss
from trial_site.blinding import mrss_values_shown
from trial_site.forms import may_read_forms
from trial_site.permissions import user_can


class FormAccess(NamedTuple):
    opens: bool  # the page opens (to read or to enter)
    enters: bool  # the user may enter or change it


def screening_form_access(user: Any, participant: Participant, model: type) -> FormAccess:
    """Those who enter the form (its registry roles) open it; the unblinded monitoring roles read it. A blinded
    viewer never opens the screening mRSS of a randomised participant (an earlier score: ``trial_site.blinding``)."""
    site = participant.site
    enters = user_can(user, f"screening.change_{model._meta.model_name}", site)
    opens = enters or may_read_forms(user, site)
    if opens and model is ScreeningMrss:
        later_scored = hasattr(participant, "allocation")
        if not mrss_values_shown(user, site, complete=False, later_scored=later_scored):
            return FormAccess(opens=False, enters=False)
    return FormAccess(opens=opens, enters=enters)
