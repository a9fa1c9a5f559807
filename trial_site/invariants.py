"""Invariants that a crash could break, checked and repaired: ``manage.py check_invariants [--repair]`` and the
beat task ``trial_site.tasks.invariants_check``.

Each app lists its own checks in ``settings.INVARIANTS`` (resolved at start-up by the system check E003): a
callable ``(repair: bool) -> Finding``. A repair is made through the app's services, attributed to the system
user with a reason that names the check, so it is in the audit trail like any other change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from trial_site.models import OutboxMessage

logger = logging.getLogger(__name__)

REPAIR_REASON = "repaired by check_invariants: %s"


@dataclass
class Finding:
    """What one invariant found: the rows that break it, and those repaired now."""

    invariant: str
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.problems or len(self.repaired) == len(self.problems)


def invariants_check(*, repair: bool) -> list[Finding]:
    """Run every invariant of ``settings.INVARIANTS`` in order."""
    return [import_string(path)(repair=repair) for path in settings.INVARIANTS]


def log_findings(findings: list[Finding]) -> None:
    """Put what the check found in the log, for whoever watches it (the beat task prints nowhere else): each
    repair as a warning, each problem left as an error."""
    for finding in findings:
        for repair in finding.repaired:
            logger.warning("%s: repaired: %s", finding.invariant, repair)
        if not finding.holds:
            for problem in finding.problems:
                logger.error("%s: %s", finding.invariant, problem)


def outbox_delivered(*, repair: bool) -> Finding:
    """Every outbox row is delivered or waiting for its retry: none pending long past its due time (lost in a
    broker outage or a crash between commit and hand-off). The repair hands them to the worker again."""
    from trial_site.outbox import outbox_sweep

    finding = Finding("every due outbox message is delivered or retrying")
    late = timezone.now() - timedelta(minutes=5)
    stuck = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, due_at__lte=late).order_by("pk")
    finding.problems = [f"outbox message {message.pk} ({message.handler}) not delivered" for message in stuck]
    failed = OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED).order_by("pk")
    finding.problems += [f"outbox message {m.pk} ({m.handler}) failed: {m.last_error}" for m in failed]
    if repair and stuck:
        outbox_sweep(now=late)
        finding.repaired = [f"outbox message {message.pk} handed to the worker again" for message in stuck]
    return finding
