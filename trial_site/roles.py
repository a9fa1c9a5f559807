"""The roles of the trial and what each may do: permissions are defined here, in code, and nowhere else.

``apply_role_permissions`` mirrors this table into one Django group per role after every ``migrate``
(idempotently), so the admin site and ``user.has_perm`` agree with it. Site-level decisions use
``trial_site.permissions.user_can``, which reads this table and the user's memberships at that site.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Coordinator")
    INVESTIGATOR = "investigator", _("Investigator")
    BLINDED_ASSESSOR = "blinded_assessor", _("Blinded assessor")
    MONITOR = "monitor", _("Monitor")
    DATA_MANAGER = "data_manager", _("Data manager")
    STATISTICIAN = "statistician", _("Statistician")
    ADMINISTRATOR = "administrator", _("Administrator")


_SEE_SITE = frozenset(
    {"trial_site.view_site", "trial_site.view_staffmembership", "trial_site.view_labreferencerange",
     "trial_site.view_protocolversion"}
)  # fmt: skip
# Protocol amendments: the data manager proposes one (from the approved amendment's text); an investigator or
# another data manager approves it, with a reason, to put it in force (``trial_site.protocol_versions``).
_PROPOSE_AMENDMENT = frozenset({"trial_site.add_protocolversion"})
_APPROVE_AMENDMENT = frozenset({"trial_site.approve_protocolversion"})
# A site's laboratory reference ranges (the limits CTCAE grades use): its data manager and administrator keep them.
_KEEP_LAB_RANGES = frozenset({"trial_site.add_labreferencerange", "trial_site.change_labreferencerange"})
_READ_ACCESS_LOG = frozenset({"trial_site.view_accessevent"})
_MANAGE_STAFF = frozenset(
    {
        "trial_site.add_site",
        "trial_site.change_site",
        "trial_site.add_staffmembership",
        "trial_site.change_staffmembership",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        # Unlocking an account locked after failed logins = deleting its django-axes attempt record.
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
    }
)

_SEE_SCREENING = frozenset({"screening.view_participant"})
# The add and change permissions of each case report form come from the registry of forms (its ``entered_by``):
# ``_forms_entered_by(role)``, added to the roles below.
_SCREEN = _SEE_SCREENING | frozenset(
    {
        "screening.add_participant",
        "screening.change_participant",
        "screening.add_consentwithdrawal",
        "screening.add_screenfailure",
    }
)

_SEE_ALLOCATION = frozenset({"randomization.view_allocation"})
_UNBLINDED = _SEE_ALLOCATION | {"randomization.view_arm"}
_RANDOMISE = _UNBLINDED | {"randomization.randomise", "randomization.flag_error"}
_KEEP_LISTS = _UNBLINDED | frozenset(
    {
        "randomization.view_allocationlist",
        "randomization.add_allocationlist",
        "randomization.change_allocationlist",
        "randomization.view_allocationslot",
    }
)
_UNBLIND = _SEE_ALLOCATION | {"randomization.unblind"}
_SEE_VISITS = frozenset({"visits.view_visit", "visits.view_endofstudy", "visits.view_concomitantmedication"})
_RUN_VISITS = _SEE_VISITS | frozenset(
    {"visits.add_visit", "visits.change_visit", "visits.add_endofstudy", "visits.view_concomitantmedication"}
    | {"visits.add_concomitantmedication", "visits.change_concomitantmedication"}
)
# Safety is unblinded work (alerts and the summary name arms): blinded assessors have none of it.
_SEE_SAFETY = frozenset({"safety.view_adverseevent", "safety.view_saereport", "safety.view_labalert"})
_REPORT_SAFETY = _SEE_SAFETY | frozenset(
    {"safety.add_adverseevent", "safety.change_adverseevent", "safety.change_saereport"}
)
_JUDGE_SAFETY = _REPORT_SAFETY | {"safety.sign_saereport", "safety.acknowledge_labalert"}

# Visit reminders name no arm; the site team sends them, monitors read them, administrators watch delivery.
_SEE_REMINDERS = frozenset({"reminders.view_reminder"})
_SEND_REMINDERS = _SEE_REMINDERS | {"reminders.send_now"}
_WATCH_DELIVERY = _SEE_REMINDERS | {"reminders.view_delivery_status"}
# Monitoring: monitors and data managers review, query and verify; the site answers; investigators sign; data
# managers lock.
_SEE_MONITORING = frozenset(
    {"monitoring.view_dataquery", "monitoring.view_sourceverification", "monitoring.view_signature",
     "monitoring.view_datalock"}
)  # fmt: skip
_ANSWER_QUERIES = _SEE_MONITORING | {"monitoring.answer_query"}
_REVIEW = _SEE_MONITORING | {"monitoring.review_audit", "monitoring.raise_query"}
_MONITOR = _REVIEW | {"monitoring.verify_source"}
_SIGN = _ANSWER_QUERIES | {"monitoring.sign_data", "monitoring.review_audit"}
_LOCK = _REVIEW | {"monitoring.lock_data"}
# Exports: data managers and administrators use the export centre; statisticians take the de-identified
# analysis datasets and the data dictionary.
_EXPORT_ANALYSIS = frozenset({"exports.export_analysis"})
_EXPORT = _EXPORT_ANALYSIS | {"exports.export_data"}
# Each later feature adds its permissions (``<app>.<codename>``) to the roles that need them.
_ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.COORDINATOR: _SEE_SITE
    | _SCREEN
    | _UNBLINDED
    | _RUN_VISITS
    | _REPORT_SAFETY
    | _SEND_REMINDERS
    | _ANSWER_QUERIES,
    Role.INVESTIGATOR: _SEE_SITE
    | _SCREEN
    | {"screening.confirm_eligibility"}
    | _RANDOMISE
    | _RUN_VISITS
    | _JUDGE_SAFETY
    | _SEND_REMINDERS
    | _SIGN
    | _APPROVE_AMENDMENT,
    # Blinded: sees that a participant is randomised, never the arm, unless unblinded in an emergency.
    # Concomitant medications would unblind (folic acid comes with methotrexate): see trial_site/blinding.py.
    Role.BLINDED_ASSESSOR: _SEE_SITE
    | _SEE_SCREENING
    | _UNBLIND
    | (_SEE_VISITS - {"visits.view_concomitantmedication"}),
    Role.MONITOR: _SEE_SITE
    | _READ_ACCESS_LOG
    | _SEE_SCREENING
    | _UNBLINDED
    | _SEE_VISITS
    | _SEE_SAFETY
    | _SEE_REMINDERS
    | _MONITOR,
    Role.DATA_MANAGER: _SEE_SITE
    | _SEE_SCREENING
    | _UNBLINDED
    | _SEE_VISITS
    | _SEE_SAFETY
    | _SEE_REMINDERS
    | _LOCK
    | _KEEP_LAB_RANGES
    | _PROPOSE_AMENDMENT
    | _APPROVE_AMENDMENT
    | _EXPORT,
    Role.STATISTICIAN: _SEE_SITE | _KEEP_LISTS | _EXPORT_ANALYSIS,
    Role.ADMINISTRATOR: _SEE_SITE
    | _READ_ACCESS_LOG
    | _MANAGE_STAFF
    | _UNBLINDED
    | _WATCH_DELIVERY
    | _SEE_MONITORING
    | {"monitoring.review_audit", "auth.change_user"}
    | _KEEP_LAB_RANGES
    | _EXPORT,
}


def _forms_entered_by(role: Role) -> frozenset[str]:
    from trial_site.registry import role_permissions

    return role_permissions(role.value)


class _RolePermissions(Mapping[Role, frozenset[str]]):
    """Role → its permissions: the table above and the forms the registry says the role enters. Read after the
    apps are loaded (the registry reads the models); computed once."""

    _table: dict[Role, frozenset[str]] | None = None

    def _computed(self) -> dict[Role, frozenset[str]]:
        if self._table is None:
            self._table = {role: perms | _forms_entered_by(role) for role, perms in _ROLE_PERMISSIONS.items()}
        return self._table

    def __getitem__(self, role: Role) -> frozenset[str]:
        return self._computed()[role]

    def __iter__(self) -> Iterator[Role]:
        return iter(_ROLE_PERMISSIONS)

    def __len__(self) -> int:
        return len(_ROLE_PERMISSIONS)


ROLE_PERMISSIONS: Mapping[Role, frozenset[str]] = _RolePermissions()

# The only permissions that may be given to one person beyond their roles (a coordinator allowed to randomise, a
# reviewer of the audit trail); ``user_can`` ignores any other permission held directly. Everything else a person
# may do comes from the roles above.
DELEGABLE_PERMISSIONS = frozenset({"randomization.randomise", "monitoring.review_audit"})
# Of those, the ones that hold only at a site where the person's own roles see the arm: the audit trail shows every
# laboratory value, medication and dose ever entered, which a blinded person must not read (docs/roles.md, Blinding).
DELEGABLE_WHERE_UNBLINDED = frozenset({"monitoring.review_audit"})
SEES_ARM = "randomization.view_arm"

# Roles whose holders may use the Django admin site (it shows only what their permissions allow).
ADMIN_SITE_ROLES = frozenset({Role.ADMINISTRATOR})


def group_name(role: Role) -> str:
    """The Django group that mirrors ``role``."""
    return f"role: {role.value}"
