"""The home page's to-do lists of screening (``trial_site.home``): eligibility to confirm, re-consent due."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from screening import selectors
from screening.models import Participant
from screening.status import ScreeningStatus
from trial_site.home import TodoItem, TodoList, todo_list


def eligibility_to_confirm(user: Any, *, rows: int) -> TodoList:
    """Participants computed eligible whose eligibility the investigator has not confirmed yet."""

    def item(participant: Participant) -> TodoItem:
        return TodoItem(
            f"{participant.screening_number} · {participant.site.code}",
            str(ScreeningStatus.ELIGIBLE.label),
            reverse("screening:participant", args=[participant.screening_number]),
        )

    return todo_list(
        "eligibility_to_confirm",
        gettext_lazy("Eligibility to confirm"),
        selectors.eligibility_to_confirm(user),
        item,
        limit=rows,
        see_all_url=f"{reverse('screening:index')}?{urlencode({'status': ScreeningStatus.ELIGIBLE.value})}",
        empty=gettext_lazy("No eligibility is waiting for your confirmation."),
    )


def reconsent_due(user: Any, *, rows: int) -> TodoList:
    """Participants who must sign a new version of the consent form."""

    def item(row: selectors.ReconsentRow) -> TodoItem:
        return TodoItem(
            row.participant.screening_number,
            _("version %(version)s due since %(date)s")
            % {"version": row.decision.version, "date": row.decision.since.isoformat() if row.decision.since else "–"},
            reverse("screening:reconsent", args=[row.participant.screening_number]),
        )

    return todo_list(
        "reconsent_due",
        gettext_lazy("Re-consent due"),
        selectors.participants_to_reconsent(user),
        item,
        limit=rows,
        see_all_url=reverse("screening:reconsent_due"),
        empty=gettext_lazy("No participant has to re-consent."),
    )
