"""Navigation per role: which sections each role sees in the menu and on its home page, and the to-do links.

Sections are defined once here; the menu, the home page and the tests read this table. A to-do (``TODOS``) is a
link the menu shows, with its count, only to users who may act on it and only while there is something to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from trial_site.roles import Role


@dataclass(frozen=True)
class Section:
    key: str
    label: str | Promise
    url_name: str
    roles: frozenset[Role]
    summary: str | Promise


ALL_ROLES = frozenset(Role)

SECTIONS: tuple[Section, ...] = (
    Section(
        "screening",
        _("Screening"),
        "screening:index",
        frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR, Role.MONITOR, Role.DATA_MANAGER}),
        _("Register patients, record consent and screening forms, and see the eligibility decision."),
    ),
    Section(
        "randomization",
        _("Randomisation"),
        "randomization:index",
        ALL_ROLES,
        _("Randomise eligible participants and see allocations; allocation lists for the statistician."),
    ),
    Section(
        "visits",
        _("Visits"),
        "visits:index",
        frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR, Role.MONITOR, Role.DATA_MANAGER}),
        _("Visits due and in window, case report forms, missing forms."),
    ),
    Section(
        "record_status",
        _("Record status"),
        "visits:dashboard",
        frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR, Role.MONITOR, Role.DATA_MANAGER}),
        _("Every participant's visits at a glance: what is entered, due, overdue, queried, verified, signed, locked."),
    ),
    Section(
        "safety",
        _("Safety"),
        "safety:index",
        frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER}),
        _("Adverse events, SAE reports and their 24-hour clock, laboratory alerts."),
    ),
    Section(
        "reminders",
        _("Reminders"),
        "reminders:index",
        frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.ADMINISTRATOR}),
        _("Visit reminders by SMS and e-mail: planned, sent, failed; send one now; delivery backends."),
    ),
    Section(
        "monitoring",
        _("Monitoring"),
        "monitoring:index",
        frozenset({Role.MONITOR, Role.DATA_MANAGER, Role.INVESTIGATOR, Role.COORDINATOR, Role.ADMINISTRATOR}),
        _("Audit trail, data queries, source data verification, signatures and locks."),
    ),
    Section(
        "reports",
        _("Reports"),
        "exports:reports",
        ALL_ROLES,
        _("The CONSORT flow, enrolment against the target, visit compliance, completeness, queries and SAEs."),
    ),
    Section(
        "exports",
        _("Exports"),
        "exports:index",
        frozenset({Role.DATA_MANAGER, Role.STATISTICIAN, Role.ADMINISTRATOR}),
        _("Datasets, analysis files, data dictionary, CDISC ODM, SAS, Stata and the audit trail; the export log."),
    ),
    Section(
        "sites",
        _("Sites and staff"),
        "site_list",
        ALL_ROLES,
        _("Your sites, their phone numbers and who works there."),
    ),
    Section(
        "protocol",
        _("Protocol"),
        "protocol_list",
        ALL_ROLES,
        _("The protocol's versions: what each amendment changes, who proposed and approved it, from when."),
    ),
    Section(
        "staff",
        _("Staff"),
        "staff_list",
        frozenset({Role.ADMINISTRATOR}),
        _("Staff accounts and their roles at your sites: create, deactivate, grant and end roles, password links."),
    ),
    Section(
        "access_log",
        _("Access log"),
        "access_log",
        frozenset({Role.MONITOR, Role.ADMINISTRATOR}),
        _("Logins, failed logins, lockouts and refused access."),
    ),
)

ROLE_DUTIES: dict[Role, str | Promise] = {
    Role.COORDINATOR: _("Screen patients, enter case report forms visit by visit, report adverse events."),
    Role.INVESTIGATOR: _("Confirm eligibility, randomise, assess causality and sign forms."),
    Role.BLINDED_ASSESSOR: _("Score the mRSS without knowing the participant's treatment."),
    Role.MONITOR: _("Review the audit history, verify source data, raise and close queries."),
    Role.DATA_MANAGER: _("Clean, lock and export the data."),
    Role.STATISTICIAN: _("Prepare the allocation lists and the analysis datasets."),
    Role.ADMINISTRATOR: _("Manage sites, staff accounts and roles; export data."),
}


def sections_for(roles: frozenset[Role]) -> list[Section]:
    """The sections a user with ``roles`` sees, in menu order (a superuser without roles sees none: superusers are
    server operators, not trial staff)."""
    return [section for section in SECTIONS if section.roles & roles]


@dataclass(frozen=True)
class Todo:
    """A to-do link of the menu: shown with ``count`` (the dotted path of a function of the user giving a number;
    the app's own selector, named here as the URL is) to users holding ``permission`` at one of their sites, when
    the number is not 0."""

    key: str
    label: str | Promise
    url_name: str
    permission: str
    count: str


TODOS: tuple[Todo, ...] = (
    Todo(
        "reconsent",
        _("Re-consent due"),
        "screening:reconsent_due",
        "screening.add_reconsent",
        "screening.selectors.reconsent_count",
    ),
)


def todos_for(user: Any) -> list[tuple[Todo, int]]:
    """The to-do links for ``user`` with their counts, leaving out those with nothing to do."""
    from trial_site.permissions import user_can

    found = []
    for todo in TODOS:
        if user_can(user, todo.permission):
            count = import_string(todo.count)(user)
            if count:
                found.append((todo, count))
    return found
