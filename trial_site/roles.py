"""The roles of the trial and what each may do: permissions are defined here, in code, and nowhere else.

``apply_role_permissions`` mirrors this table into one Django group per role after every ``migrate``
(idempotently), so the admin site and ``user.has_perm`` agree with it. Site-level decisions use
``trial_site.permissions.user_can``, which reads this table and the user's memberships at that site.
"""

from __future__ import annotations

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


_SEE_SITE = frozenset({"trial_site.view_site", "trial_site.view_staffmembership", "trial_site.view_labreferencerange"})
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
_SCREEN = _SEE_SCREENING | frozenset(
    {
        "screening.add_participant",
        "screening.change_participant",
        "screening.add_consentwithdrawal",
        "screening.add_screenfailure",
        *(
            f"screening.{action}_{form}"
            for action in ("add", "change")
            for form in (
                "classificationcriteria",
                "diseasehistory",
                "screeningmrss",
                "exclusionhistory",
                "screeninglabs",
            )
        ),
    }
)
_SCORE_SKIN = _SEE_SCREENING | frozenset({"screening.add_screeningmrss", "screening.change_screeningmrss"})
# Day 1, before randomising: the investigator records the baseline criteria (I4, E7, E15) on the day.
_CONFIRM_DAY1 = frozenset({"screening.add_day1baseline", "screening.change_day1baseline"})

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
_VISIT_CRFS = (
    "vitalsigns",
    "labpanel",
    "haqdi",
    "globalassessment",
    "inflammationmarkers",
    "lipids",
    "pulmonaryfunction",
    "pregnancytest",
    "studydrug",
    "concomitantmedications",
)
_RUN_VISITS = _SEE_VISITS | frozenset(
    {"visits.add_visit", "visits.change_visit", "visits.add_endofstudy", "visits.view_concomitantmedication"}
    | {"visits.add_concomitantmedication", "visits.change_concomitantmedication"}
    | {f"visits.{action}_{form}" for action in ("add", "change") for form in _VISIT_CRFS}
)
_SCORE_VISIT_MRSS = frozenset({"visits.add_visitmrss", "visits.change_visitmrss"})
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
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
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
    | _CONFIRM_DAY1
    | _RANDOMISE
    | _RUN_VISITS
    | _SCORE_VISIT_MRSS
    | _JUDGE_SAFETY
    | _SEND_REMINDERS
    | _SIGN,
    # Blinded: sees that a participant is randomised, never the arm, unless unblinded in an emergency.
    # Concomitant medications would unblind (folic acid comes with methotrexate): see trial_site/blinding.py.
    Role.BLINDED_ASSESSOR: _SEE_SITE
    | _SCORE_SKIN
    | _UNBLIND
    | (_SEE_VISITS - {"visits.view_concomitantmedication"})
    | _SCORE_VISIT_MRSS,
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
