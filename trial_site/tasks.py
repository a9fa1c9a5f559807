"""Kernel tasks: a liveness round-trip, the beat heartbeat, the outbox, the invariants and expired sessions."""

from __future__ import annotations

import logging
import socket

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="trial_site.tasks.ping")
def ping(sent_at: float) -> dict[str, object]:
    """Answer a round-trip probe: the worker's host name and the sender's timestamp, unchanged."""
    logger.info("ping received from a sender at %.3f", sent_at)
    return {"pong": True, "worker": socket.gethostname(), "sent_at": sent_at}


@shared_task(name="trial_site.tasks.heartbeat")
def heartbeat() -> str:
    """Run by beat on its static schedule, so the log shows that beat and worker are alive."""
    logger.info("heartbeat: beat and worker are alive")
    return "alive"


@shared_task(name="trial_site.tasks.outbox_deliver", acks_late=True, reject_on_worker_lost=True)
def outbox_deliver(message_id: int) -> str:
    """Deliver one outbox row (an e-mail, say); a failure is recorded on the row and retried by the sweep."""
    from trial_site.outbox import deliver

    return deliver(message_id)


@shared_task(name="trial_site.tasks.outbox_sweep")
def outbox_sweep() -> int:
    """Beat: hand every undelivered, due outbox row to the worker again."""
    from trial_site import outbox

    return outbox.outbox_sweep()


@shared_task(name="trial_site.tasks.invariants_check")
def invariants_check() -> int:
    """Beat: find and repair what a crash could leave half done; return how many repairs."""
    from trial_site.invariants import invariants_check as check
    from trial_site.invariants import log_findings

    findings = check(repair=True)
    log_findings(findings)
    return sum(len(finding.repaired) for finding in findings)


@shared_task(name="trial_site.tasks.clear_sessions")
def clear_sessions() -> str:
    """Beat, daily: delete the expired sessions' rows (``manage.py clearsessions``), which nothing else removes."""
    from django.core.management import call_command

    call_command("clearsessions")
    logger.info("expired sessions cleared")
    return "cleared"
