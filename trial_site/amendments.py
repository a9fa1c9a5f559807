"""Protocol amendments, proposed and approved: the services that write ``ProtocolVersion`` rows, and the reads the
pages and the command share (the versions in order, the changes a version makes to the one before it).

A data manager proposes a version (``protocol_version_propose``): the whole amendable protocol as it stands from an
effective date, a higher version number than any so far, and a summary. Someone else with the approve permission
(an investigator or another data manager) approves it with a reason (``protocol_version_approve``): the version is
then in force from its effective date, and in the same transaction the ``protocol_amended`` follow-up applies it to
the participants already in the trial (``visits.amendments``); what that did is kept on the row (``applied``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.amendments import Change, protocol_changes
from clinical.versions import version_key
from trial_site import registry
from trial_site.hooks import follow_up
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.permissions import require
from trial_site.protocol_versions import amendable, base_protocol, from_content

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "trial_site.view_protocolversion"
PROPOSE_PERMISSION = "trial_site.add_protocolversion"
APPROVE_PERMISSION = "trial_site.approve_protocolversion"


def _today() -> date:
    return timezone.localdate()


# Reads --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    """A version for the list and the command: 1.0 (the code's, no row) or an amendment's row."""

    version: str
    effective_from: date
    status: str  # "in_force", "approved" (in force later, or replaced), "proposed"
    record: ProtocolVersion | None

    @property
    def in_force(self) -> bool:
        return self.status == "in_force"


def versions() -> list[VersionRow]:
    """Version 1.0 and every amendment, highest version first, each marked in force, approved or proposed."""
    rows = list(ProtocolVersion.objects.select_related("proposed_by", "approved_by"))
    today = _today()
    approved = [(base_protocol().version, base_protocol().effective_from)] + [
        (row.version, row.effective_from) for row in rows if row.status == ProtocolVersion.Status.APPROVED
    ]
    in_force = [version for version, day in sorted(approved, key=lambda item: version_key(item[0])) if day <= today]
    current = in_force[-1] if in_force else base_protocol().version
    found = [VersionRow(base_protocol().version, base_protocol().effective_from, "approved", None)]
    found += [VersionRow(row.version, row.effective_from, row.status, row) for row in rows]
    found = [
        VersionRow(row.version, row.effective_from, "in_force", row.record) if row.version == current else row
        for row in found
    ]
    return sorted(found, key=lambda row: version_key(row.version), reverse=True)


def content_of(version: str) -> dict[str, Any] | None:
    """The amendable protocol of ``version`` (1.0 from the code), approved or proposed, or None."""
    if version == base_protocol().version:
        return amendable(base_protocol())
    row = ProtocolVersion.objects.filter(version=version).values_list("content", flat=True).first()
    return row


def version_before(version: str) -> str:
    """The highest version (1.0, or any amendment proposed or approved) below ``version``."""
    known = [base_protocol().version, *ProtocolVersion.objects.values_list("version", flat=True)]
    lower = [other for other in known if version_key(other) < version_key(version)]
    return max(lower, key=version_key) if lower else base_protocol().version


def changes_in(version: str) -> tuple[str, list[Change]]:
    """The version before ``version`` and what ``version`` changes in it."""
    before = version_before(version)
    labels = {code: str(label) for code, label in registry.visit_form_labels().items()}
    return before, protocol_changes(content_of(before) or {}, content_of(version) or {}, labels)


# Writes -------------------------------------------------------------------------------------------------------------


def protocol_version_propose(
    *, by: Any, version: str, effective_from: date, summary: str, content: Any
) -> ProtocolVersion:
    """``by`` (a data manager) proposes protocol ``version``: ``content`` is the whole amendable protocol (as
    ``manage.py protocol_amendment current`` prints it), in force from ``effective_from`` once approved.

    Refused with a ``ValidationError`` naming the field: a version not higher than every version so far, content
    that is not a valid protocol, an effective date in the past, no summary. ``PermissionDenied`` without the
    permission to propose at any of the user's sites."""
    require(by, PROPOSE_PERMISSION)
    version = (version or "").strip()
    errors: dict[str, str] = {}
    try:
        key = version_key(version) if version else None
    except ValueError:
        key = None
    if key is None:
        errors["version"] = _("A protocol version is numbers with dots, such as 2.0.")
    else:
        highest = max(
            [base_protocol().version, *ProtocolVersion.objects.values_list("version", flat=True)], key=version_key
        )
        if key <= version_key(highest):
            errors["version"] = _("The version must be higher than %(highest)s, the highest so far.") % {
                "highest": highest
            }
    if effective_from is None:
        errors["effective_from"] = _("Give the date from which the amendment is in force.")
    elif effective_from < _today():
        errors["effective_from"] = _("The amendment cannot be in force from a day in the past.")
    if not (summary or "").strip():
        errors["summary"] = _("Say what the amendment changes and why.")
    if not isinstance(content, dict):
        errors["content"] = _("The amendment is a JSON object, as the current protocol is printed.")
    else:
        try:
            from_content(version or "0", effective_from or _today(), content)
        except (ValueError, TypeError) as problem:
            errors["content"] = _("The amendment is not a valid protocol: %(problem)s") % {"problem": problem}
    if not errors and content == content_of(version_before(version)):
        errors["content"] = _("The amendment changes nothing in version %(version)s.") % {
            "version": version_before(version)
        }
    if errors:
        raise ValidationError(errors)
    record = ProtocolVersion(
        version=version,
        effective_from=effective_from,
        summary=summary.strip(),
        content=content,
        proposed_by=by,
        proposed_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            record.save(by=by, reason=_("Amendment proposed"))
    except IntegrityError:  # the same version proposed at the same moment by someone else
        raise ValidationError({"version": _("Version %(version)s was just proposed.") % {"version": version}}) from None
    logger.info("protocol version %s proposed by %s", version, by)
    return record


def protocol_version_approve(*, version: str, by: Any, reason: str) -> ProtocolVersion:
    """``by`` approves the proposed protocol ``version`` with ``reason``: it is in force from its effective date, and
    the participants already in the trial get its schedule (``protocol_amended``, in the same transaction; the
    counts are kept in ``applied``).

    Four eyes: the proposer cannot approve. Refused (``ValidationError``) without a reason, for a version already
    approved (a second click), one whose effective date has passed, or one below a version already approved.
    Approvals are serialised (a lock on every version's row): two at once approve once."""
    require(by, APPROVE_PERMISSION)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for approving the amendment.")})
    with transaction.atomic():
        rows = {row.version: row for row in ProtocolVersion.objects.select_for_update().order_by("pk")}
        record = rows.get(version)
        if record is None:
            raise ValidationError(_("No protocol version %(version)s has been proposed.") % {"version": version})
        if record.status == ProtocolVersion.Status.APPROVED:
            raise ValidationError(
                _("Version %(version)s is approved already (by %(who)s on %(when)s): nothing was done.")
                % {
                    "version": version,
                    "who": record.approved_by.get_full_name() or record.approved_by.get_username(),
                    "when": timezone.localtime(record.approved_at).strftime("%Y-%m-%d %H:%M"),
                },
                code="already_approved",
            )
        if record.proposed_by_id == by.pk:
            raise ValidationError(_("You proposed this amendment: someone else must approve it."), code="four_eyes")
        if record.effective_from < _today():
            raise ValidationError(
                _("Its effective date (%(day)s) has passed: propose it again with a later date.")
                % {"day": record.effective_from.isoformat()},
                code="past",
            )
        higher = [
            other.version
            for other in rows.values()
            if other.status == ProtocolVersion.Status.APPROVED and version_key(other.version) > version_key(version)
        ]
        if higher:
            raise ValidationError(
                _("Version %(higher)s is approved already: %(version)s can no longer be approved.")
                % {"higher": max(higher, key=version_key), "version": version}
            )
        record.status = ProtocolVersion.Status.APPROVED
        record.approved_by = by
        record.approved_at = timezone.now()
        record.approval_reason = reason
        record.full_clean()
        record.save(by=by, reason=reason)
        results = follow_up("protocol_amended", version=record.version, by=by)
        record.applied = results[0] if results else {}
        record.save(by=by, reason=_("Amendment %(version)s applied to the participants") % {"version": version})
    logger.info("protocol version %s approved by %s: %s", version, by, record.applied)
    return record
