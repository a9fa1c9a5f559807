"""Kernel models: sites, staff memberships with their roles, the access log, the outbox, submission keys, and the
history of staff accounts."""

from trial_site.models.access import AccessEvent
from trial_site.models.lab_ranges import LabReferenceRange
from trial_site.models.outbox import OutboxMessage
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.models.sites import Site, StaffMembership
from trial_site.models.submissions import SubmissionKey
from trial_site.models.users import UserHistoricalRecords

__all__ = [
    "AccessEvent",
    "LabReferenceRange",
    "OutboxMessage",
    "ProtocolVersion",
    "Site",
    "StaffMembership",
    "SubmissionKey",
    "UserHistoricalRecords",
]
