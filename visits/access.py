"""Who may open and who may enter a visit form: the one rule the CRF page enforces and every link to a form
follows (the visit page, the participant's grid, the record status dashboard), so that no link leads to a refusal."""

from __future__ import annotations

from typing import Any

from trial_site import registry
from trial_site.blinding import Hidden, mrss_values_shown, shows
from trial_site.forms import may_read_forms
from trial_site.permissions import user_can
from visits.crfs import VisitForm, VisitMrss


def form_access(
    user: Any, site: Any, model: type[VisitForm], *, complete: bool, later_scored: bool
) -> tuple[bool, bool]:
    """(opens, enters) for ``user`` and the form ``model`` of a visit at ``site`` (the site, or anything with its
    ``pk``: the permission checks read only that). Enters with the form's change permission there; opens when
    entering or reading forms there; a blinded user opens an mRSS only while its values may be shown to them (not
    once complete, nor once a later visit's mRSS is scored: ``complete`` and ``later_scored`` say which)."""
    enters = user_can(user, registry.permission(model, "change"), site)
    opens = enters or may_read_forms(user, site)
    blinded = model is VisitMrss and not shows(user, site, Hidden.EARLIER_MRSS)
    if opens and blinded and not mrss_values_shown(user, site, complete=complete, later_scored=later_scored):
        return False, False
    return opens, enters
